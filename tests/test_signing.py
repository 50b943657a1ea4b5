"""Aster (V1 HMAC, V3 EIP-712) and Backpack (ED25519) signing against the test vectors of
docs/venues/aster.md and docs/venues/backpack.md."""

from __future__ import annotations

import base64
import traceback
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from hedged.adapters import aster_signing as aster
from hedged.adapters import backpack_signing as bp

# --- signing vectors: docs/venues/aster.md#test-vectors ---------------------------------------

V1_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
V1_PAYLOAD = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
V1_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
V1_MIXED_QUERY = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
V1_MIXED_BODY = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
V1_MIXED_SIGNATURE = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"

V3_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
V3_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
V3_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
V3_NONCE = 1_750_000_000_000_000
V3_PARAMS = [
    ("symbol", "BTCUSDT"),
    ("side", "SELL"),
    ("type", "MARKET"),
    ("quantity", "0.010"),
    ("newClientOrderId", "hedge-1"),
]
V3_MSG = (
    "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.010&newClientOrderId=hedge-1"
    f"&nonce={V3_NONCE}&user={V3_USER}&signer={V3_SIGNER}"
)
V3_DOMAIN_SEPARATOR = "a95d0a7a6f3f17fcebb0c2336645385ce79cde7523f71ab147fdb7f15e9f37f9"
V3_DIGEST = "438cdc677f6e80c7bafa43781cf52a589396ccfff24254cb0ef3718d62c11c9a"
V3_SIGNATURE = (
    "923973af12188b245ee0c1563ee72f1597008c8985571e2fe53710ddbe8f9e94"
    "4635b7362b3d1a1566d2c470c50e541962adf3d473b3efd33194ef5d27729a7e1b"
)

# --- signing vectors: docs/venues/backpack.md#test-vectors ------------------------------------

BP_SECRET = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
BP_API_KEY = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
BP_CANCEL = "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000"
BP_CANCEL_SIG = (
    "5JNvIFup6BvOx0ITxfxtEn5ac317vAI78vza6AWOyTvrzDTlVnO/T0dQazXuJmS4WJbLnm17ydL4EwqW5+6aBA=="
)
BP_EXECUTE = (
    "instruction=orderExecute&clientId=42&orderType=Market&quantity=0.5&side=Bid"
    "&symbol=SOL_USDC_PERP&timestamp=1750000000000&window=5000"
)
BP_EXECUTE_SIG = (
    "cKQnGfylMctDAExpivfLgX92IGLgheXYCyKrQZiHvkOxA6dG7ivCBN+RDwHgazh/EPLz2Cf1ihVQiSOAqGZsBg=="
)
BP_SUBSCRIBE = "instruction=subscribe&timestamp=1750000000000&window=5000"
BP_SUBSCRIBE_SIG = (
    "WHLEmbhQg3PY3VWb1GoJKNBmKXDrZHeSs5pD1Q7X1owt+40k5jNqGKl1aQDpkG9K+czQBxg+8X3kyE4lj9fHDw=="
)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def _recover_or_none(
    msg: str, signature: str, chain_id: int = aster.CHAIN_ID_MAINNET
) -> str | None:
    try:
        address: str = aster.recover_v3_signer(msg, signature, chain_id)
    except ValueError:
        return None
    return address


# --- Aster V1 --------------------------------------------------------------------------------


def test_v1_hmac_doc_vector() -> None:
    assert aster.hmac_signature(V1_SECRET, V1_PAYLOAD) == V1_SIGNATURE


def test_v1_hmac_mixed_query_and_body_vector() -> None:
    assert aster.hmac_signature(V1_SECRET, V1_MIXED_QUERY + V1_MIXED_BODY) == V1_MIXED_SIGNATURE


def test_sign_v1_appends_recv_window_timestamp_and_signature_last() -> None:
    params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "1"),
        ("price", "9000"),
        ("timeInForce", "GTC"),
    ]
    signed = aster.sign_v1(params, V1_SECRET, timestamp_ms=1591702613943, recv_window_ms=5000)
    assert signed == f"{V1_PAYLOAD}&signature={V1_SIGNATURE}"


def test_sign_v1_rejects_recv_window_above_60s() -> None:
    with pytest.raises(ValueError):
        aster.sign_v1([], V1_SECRET, timestamp_ms=1, recv_window_ms=60_001)


def test_verify_v1_accepts_vectors_wherever_the_signature_is() -> None:
    signed = f"{V1_PAYLOAD}&signature={V1_SIGNATURE}"
    assert aster.verify_v1(signed, "", V1_SECRET)
    assert aster.verify_v1("", signed, V1_SECRET)
    mixed_sig = f"signature={V1_MIXED_SIGNATURE}"
    assert aster.verify_v1(V1_MIXED_QUERY, f"{V1_MIXED_BODY}&{mixed_sig}", V1_SECRET)
    assert aster.verify_v1(f"{V1_MIXED_QUERY}&{mixed_sig}", V1_MIXED_BODY, V1_SECRET)


def test_verify_v1_signature_is_case_insensitive() -> None:
    assert aster.verify_v1(f"{V1_PAYLOAD}&signature={V1_SIGNATURE.upper()}", "", V1_SECRET)


@pytest.mark.parametrize(
    ("query", "body", "secret"),
    [
        (V1_PAYLOAD.replace("price=9000", "price=9001") + f"&signature={V1_SIGNATURE}", "", None),
        (f"{V1_PAYLOAD}&signature={V1_SIGNATURE[:-1]}0", "", None),
        (f"{V1_PAYLOAD}&signature={V1_SIGNATURE}", "", "wrong-secret"),
        (V1_PAYLOAD, "", None),
        (f"{V1_PAYLOAD}&signature={V1_SIGNATURE}", f"signature={V1_SIGNATURE}", None),
        # Re-encoding changes the bytes: verification is over what was actually sent.
        (V1_MIXED_QUERY + "&", f"{V1_MIXED_BODY}&signature={V1_MIXED_SIGNATURE}", None),
    ],
    ids=["tampered", "bad-signature", "wrong-secret", "missing", "two-signatures", "re-encoded"],
)
def test_verify_v1_rejects(query: str, body: str, secret: str | None) -> None:
    assert not aster.verify_v1(query, body, secret or V1_SECRET)


# --- Aster V3 --------------------------------------------------------------------------------


def test_v3_message_follows_the_vector_order() -> None:
    assert aster.v3_message(V3_PARAMS, V3_USER, V3_SIGNER, V3_NONCE) == V3_MSG


def test_v3_message_without_user() -> None:
    msg = aster.v3_message([("symbol", "BTCUSDT")], None, V3_SIGNER, 7)
    assert msg == f"symbol=BTCUSDT&nonce=7&signer={V3_SIGNER}"


def test_v3_domain_separator_and_digest() -> None:
    signable = aster.v3_signable_message(V3_MSG)
    assert signable.header.hex() == V3_DOMAIN_SEPARATOR
    assert Account.sign_message(signable, V3_KEY).message_hash.hex() == V3_DIGEST
    testnet = aster.v3_signable_message(V3_MSG, aster.CHAIN_ID_TESTNET)
    assert testnet.header.hex() != V3_DOMAIN_SEPARATOR


def test_v3_address_of_vector_key() -> None:
    assert aster.address_of(V3_KEY) == V3_SIGNER
    assert aster.address_of(V3_KEY.removeprefix("0x")) == V3_SIGNER


def test_sign_v3_reproduces_the_vector() -> None:
    signed = aster.sign_v3(
        V3_PARAMS, user=V3_USER, signer=V3_SIGNER, signer_key=V3_KEY, nonce_us=V3_NONCE
    )
    assert signed == f"{V3_MSG}&signature=0x{V3_SIGNATURE}"


def test_recover_v3_signer_with_and_without_prefix() -> None:
    assert aster.recover_v3_signer(V3_MSG, V3_SIGNATURE) == V3_SIGNER
    assert aster.recover_v3_signer(V3_MSG, "0x" + V3_SIGNATURE) == V3_SIGNER
    assert aster.recover_v3_signer(V3_MSG, "0x" + V3_SIGNATURE.upper()) == V3_SIGNER


def test_recover_v3_rejects_tampering() -> None:
    assert _recover_or_none(V3_MSG.replace("0.010", "0.011"), V3_SIGNATURE) != V3_SIGNER
    flipped = ("0" if V3_SIGNATURE[0] != "0" else "1") + V3_SIGNATURE[1:]
    assert _recover_or_none(V3_MSG, flipped) != V3_SIGNER
    assert _recover_or_none(V3_MSG, V3_SIGNATURE, aster.CHAIN_ID_TESTNET) != V3_SIGNER


@pytest.mark.parametrize("signature", ["", "zz", V3_SIGNATURE[:-2], "ff" * 65])
def test_recover_v3_malformed_signature_raises_value_error(signature: str) -> None:
    with pytest.raises(ValueError):
        aster.recover_v3_signer(V3_MSG, signature)


def test_sign_v3_testnet_chain_id() -> None:
    signed = aster.sign_v3(
        V3_PARAMS,
        user=None,
        signer=V3_SIGNER,
        signer_key=V3_KEY,
        nonce_us=V3_NONCE,
        chain_id=aster.CHAIN_ID_TESTNET,
    )
    msg, signature = signed.rsplit("&signature=", 1)
    assert aster.recover_v3_signer(msg, signature, aster.CHAIN_ID_TESTNET) == V3_SIGNER
    assert _recover_or_none(msg, signature) != V3_SIGNER


def test_sign_v3_rejects_a_signer_that_is_not_the_key() -> None:
    with pytest.raises(ValueError) as info:
        aster.sign_v3(V3_PARAMS, user=None, signer=V3_USER, signer_key=V3_KEY, nonce_us=1)
    assert V3_KEY.removeprefix("0x") not in _exception_text(info.value)


def test_new_agent_key_round_trips() -> None:
    key, address = aster.new_agent_key()
    assert aster.address_of(key) == address
    signed = aster.sign_v3([("a", "b")], user=None, signer=address, signer_key=key, nonce_us=1)
    msg, signature = signed.rsplit("&signature=", 1)
    assert aster.recover_v3_signer(msg, signature) == address


# --- Aster V3 nonce rules --------------------------------------------------------------------

NOW_US = 1_750_000_000_000_000
SECOND_US = 1_000_000


def test_nonce_ok_then_duplicate() -> None:
    guard = aster.NonceGuard()
    assert guard.check(V3_SIGNER, NOW_US, NOW_US) is aster.NonceVerdict.OK
    assert guard.check(V3_SIGNER, NOW_US, NOW_US) is aster.NonceVerdict.DUPLICATE
    assert guard.check(V3_SIGNER.lower(), NOW_US, NOW_US) == "duplicate"
    assert guard.check(V3_USER, NOW_US, NOW_US) == "ok"  # tracked per signer


def test_nonce_window_edges() -> None:
    guard = aster.NonceGuard()  # +/-60 s
    assert guard.check(V3_SIGNER, NOW_US - 60 * SECOND_US, NOW_US) == "ok"
    assert guard.check(V3_SIGNER, NOW_US + 60 * SECOND_US, NOW_US) == "ok"
    assert guard.check(V3_SIGNER, NOW_US - 60 * SECOND_US - 1, NOW_US) == "expired"
    assert guard.check(V3_SIGNER, NOW_US + 60 * SECOND_US + 1, NOW_US) == "ahead"


def test_nonce_narrow_window() -> None:
    guard = aster.NonceGuard(window_s=10)
    assert guard.check(V3_SIGNER, NOW_US - 11 * SECOND_US, NOW_US) == "expired"
    assert guard.check(V3_SIGNER, NOW_US + 11 * SECOND_US, NOW_US) == "ahead"


def test_nonce_default_clock_is_now() -> None:
    import time

    assert aster.NonceGuard().check(V3_SIGNER, time.time_ns() // 1000) == "ok"


def test_nonce_eviction_at_100() -> None:
    guard = aster.NonceGuard()
    oldest = NOW_US - 100
    for nonce in range(oldest, NOW_US):
        assert guard.check(V3_SIGNER, nonce, NOW_US) == "ok"
    assert len(guard.recent(V3_SIGNER)) == 100
    assert guard.check(V3_SIGNER, oldest - 1, NOW_US) == "expired"  # below the full set's min
    assert guard.check(V3_SIGNER, NOW_US, NOW_US) == "ok"  # evicts `oldest`
    assert guard.recent(V3_SIGNER)[0] == oldest + 1
    assert len(guard.recent(V3_SIGNER)) == 100
    assert guard.check(V3_SIGNER, oldest, NOW_US) == "expired"  # evicted, so no longer known
    assert guard.check(V3_SIGNER, oldest + 1, NOW_US) == "duplicate"


# --- Backpack --------------------------------------------------------------------------------


def test_backpack_public_key_vector() -> None:
    assert bp.public_key_b64(BP_SECRET) == BP_API_KEY


def test_backpack_signing_strings_match_vectors() -> None:
    cancel = bp.signing_string(
        "orderCancel", {"symbol": "BTC_USDT", "orderId": 28}, 1614550000000, 5000
    )
    assert cancel == BP_CANCEL
    execute = bp.signing_string(
        "orderExecute",
        {
            "symbol": "SOL_USDC_PERP",
            "side": "Bid",
            "orderType": "Market",
            "quantity": Decimal("0.5"),
            "clientId": 42,
        },
        1750000000000,
        5000,
    )
    assert execute == BP_EXECUTE
    assert bp.signing_string("subscribe", {}, 1750000000000, 5000) == BP_SUBSCRIBE


@pytest.mark.parametrize(
    ("message", "signature"),
    [(BP_CANCEL, BP_CANCEL_SIG), (BP_EXECUTE, BP_EXECUTE_SIG), (BP_SUBSCRIBE, BP_SUBSCRIBE_SIG)],
)
def test_backpack_signature_vectors(message: str, signature: str) -> None:
    assert bp.sign(BP_SECRET, message) == signature
    assert bp.verify(BP_API_KEY, message, signature)


def test_backpack_accepts_64_byte_secret() -> None:
    seed_and_pub = base64.b64encode(
        base64.b64decode(BP_SECRET) + base64.b64decode(BP_API_KEY)
    ).decode()
    assert bp.sign(seed_and_pub, BP_CANCEL) == BP_CANCEL_SIG
    assert bp.public_key_b64(seed_and_pub) == BP_API_KEY


def test_backpack_verify_rejects_tampering() -> None:
    assert not bp.verify(BP_API_KEY, BP_CANCEL.replace("orderId=28", "orderId=29"), BP_CANCEL_SIG)
    assert not bp.verify(BP_API_KEY, BP_CANCEL, BP_EXECUTE_SIG)
    raw = bytearray(base64.b64decode(BP_CANCEL_SIG))
    raw[0] ^= 1
    assert not bp.verify(BP_API_KEY, BP_CANCEL, base64.b64encode(raw).decode())
    _, other_key = bp.new_keypair()
    assert not bp.verify(other_key, BP_CANCEL, BP_CANCEL_SIG)
    assert not bp.verify(BP_API_KEY, BP_CANCEL, "not base64!")
    assert not bp.verify("AAAA", BP_CANCEL, BP_CANCEL_SIG)


def test_backpack_signing_string_sorts_and_renders() -> None:
    params: dict[str, object] = {
        "symbol": "SOL_USDC_PERP",
        "reduceOnly": True,
        "postOnly": False,
        "price": None,
        "clientId": 4294967295,
        "quantity": Decimal("1E-7"),
        "triggerPrice": Decimal("0.010"),
    }
    assert bp.signing_string("orderExecute", params, 1, 5000) == (
        "instruction=orderExecute&clientId=4294967295&postOnly=false&quantity=0.0000001"
        "&reduceOnly=true&symbol=SOL_USDC_PERP&triggerPrice=0.010&timestamp=1&window=5000"
    )
    assert bp.signing_string("orderQuery", {"orderId": None}, 1, 5000) == (
        "instruction=orderQuery&timestamp=1&window=5000"
    )


@pytest.mark.parametrize("value", [0.5, [1], Decimal("NaN")])
def test_backpack_refuses_ambiguous_values(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        bp.signing_string("orderExecute", {"quantity": value}, 1, 5000)


def test_backpack_batch_signing_string() -> None:
    items: list[dict[str, object]] = [
        {"symbol": "A", "side": "Bid"},
        {"symbol": "B", "side": "Ask", "postOnly": True},
    ]
    assert bp.batch_signing_string("orderExecute", items, 1, 5000) == (
        "instruction=orderExecute&side=Bid&symbol=A"
        "&instruction=orderExecute&postOnly=true&side=Ask&symbol=B&timestamp=1&window=5000"
    )
    with pytest.raises(ValueError):
        bp.batch_signing_string("orderExecute", [], 1, 5000)


def test_backpack_headers() -> None:
    params = {"orderId": 28, "symbol": "BTC_USDT"}
    assert bp.headers(BP_API_KEY, BP_SECRET, "orderCancel", params, 1614550000000, 5000) == {
        "X-API-Key": BP_API_KEY,
        "X-Signature": BP_CANCEL_SIG,
        "X-Timestamp": "1614550000000",
        "X-Window": "5000",
    }
    items = [{"symbol": "A"}, {"symbol": "B"}]
    batch = bp.headers(BP_API_KEY, BP_SECRET, "orderExecute", items, 1, 5000)
    message = bp.batch_signing_string("orderExecute", items, 1, 5000)
    assert bp.verify(BP_API_KEY, message, batch["X-Signature"])
    with pytest.raises(ValueError):
        bp.headers(BP_API_KEY, BP_SECRET, "orderCancel", params, 1, 60_001)


def test_backpack_new_keypair_round_trips() -> None:
    secret, public = bp.new_keypair()
    assert len(base64.b64decode(secret)) == 32
    assert bp.public_key_b64(secret) == public
    assert bp.verify(public, BP_SUBSCRIBE, bp.sign(secret, BP_SUBSCRIBE))


# --- secrets never leak into exceptions -------------------------------------------------------


@pytest.mark.parametrize(
    "bad_key",
    [
        "0x" + "4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81ba",  # 31 bytes
        "0x" + "4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bazz",  # not hex
        "0x" + "00" * 32,  # out of range
    ],
)
def test_aster_bad_key_error_hides_the_key(bad_key: str) -> None:
    with pytest.raises(ValueError) as info:
        aster.address_of(bad_key)
    assert bad_key.removeprefix("0x") not in _exception_text(info.value)
    with pytest.raises(ValueError) as info:
        aster.sign_v3([], user=None, signer=V3_SIGNER, signer_key=bad_key, nonce_us=1)
    assert bad_key.removeprefix("0x") not in _exception_text(info.value)


@pytest.mark.parametrize(
    "bad_secret",
    [
        base64.b64encode(b"\x07" * 31).decode(),  # wrong length
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",  # bad padding
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEB!QEBAQEBAQEBAQE=",  # not base64
    ],
)
def test_backpack_bad_secret_error_hides_the_secret(bad_secret: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: bp.sign(bad_secret, "x"),
        lambda: bp.public_key_b64(bad_secret),
        lambda: bp.headers(BP_API_KEY, bad_secret, "subscribe", {}, 1, 5000),
    ]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        assert bad_secret.rstrip("=") not in _exception_text(info.value)


# --- property tests ---------------------------------------------------------------------------

printable = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("&=?+% \t"), max_size=20
)
keys = printable.filter(bool)
pair_lists = st.lists(st.tuples(keys, printable), max_size=8)


@given(params=pair_lists, secret=printable, ts=st.integers(0, 2**53), split=st.integers(0, 20))
def test_property_aster_v1_round_trip(
    params: list[tuple[str, str]], secret: str, ts: int, split: int
) -> None:
    signed = aster.sign_v1(params, secret, timestamp_ms=ts, recv_window_ms=5000)
    assert aster.verify_v1(signed, "", secret)
    assert aster.verify_v1("", signed, secret)
    # Mixed: the first `split` params in the query, the rest in the body, signature in either.
    query, body = urlencode(params[:split]), urlencode(params[split:])
    signature = f"signature={aster.hmac_signature(secret, query + body)}"
    assert aster.verify_v1(query, f"{body}&{signature}" if body else signature, secret)
    assert aster.verify_v1(f"{query}&{signature}" if query else signature, body, secret)
    decoded = parse_qsl(signed, keep_blank_values=True)
    assert decoded[: len(params)] == params
    assert [k for k, _ in decoded[len(params) :]] == ["recvWindow", "timestamp", "signature"]
    assert not aster.verify_v1(signed, "", secret + "x")


@settings(max_examples=25, deadline=None)
@given(params=pair_lists, nonce=st.integers(0, 2**63), with_user=st.booleans())
def test_property_aster_v3_round_trip(
    params: list[tuple[str, str]], nonce: int, with_user: bool
) -> None:
    user = V3_USER if with_user else None
    signed = aster.sign_v3(params, user=user, signer=V3_SIGNER, signer_key=V3_KEY, nonce_us=nonce)
    msg, signature = signed.rsplit("&signature=", 1)
    assert msg == aster.v3_message(params, user, V3_SIGNER, nonce)
    assert aster.recover_v3_signer(msg, signature) == V3_SIGNER
    assert parse_qsl(msg, keep_blank_values=True)[: len(params)] == params


@settings(max_examples=50, deadline=None)
@given(
    msg=st.text(),
    chain_id=st.sampled_from([aster.CHAIN_ID_MAINNET, aster.CHAIN_ID_TESTNET]),
)
def test_property_v3_fast_path_signs_what_eth_account_signs(msg: str, chain_id: int) -> None:
    """The signing path's digest and libsecp256k1 signature, byte for byte those of
    eth_account's general EIP-712 encoder and signer."""
    signable = aster.v3_signable_message(msg, chain_id)
    reference = Account.sign_message(signable, V3_KEY)
    assert aster.v3_digest(msg, chain_id) == bytes(reference.message_hash)
    assert aster.V3Key(V3_KEY).sign(aster.v3_digest(msg, chain_id)) == bytes(reference.signature)


def test_v3_key_repr_shows_the_address_not_the_key() -> None:
    key = aster.V3Key(V3_KEY)
    assert key.address == V3_SIGNER
    assert V3_KEY.removeprefix("0x") not in repr(key) and V3_SIGNER in repr(key)


bp_values = st.one_of(
    printable,
    st.integers(-(2**64), 2**64),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.none(),
)


@given(
    params=st.dictionaries(keys, bp_values, max_size=8),
    instruction=keys,
    ts=st.integers(0, 2**53),
    window=st.integers(1, bp.MAX_WINDOW_MS),
)
def test_property_backpack_round_trip(
    params: dict[str, object], instruction: str, ts: int, window: int
) -> None:
    hdrs = bp.headers(BP_API_KEY, BP_SECRET, instruction, params, ts, window)
    message = bp.signing_string(instruction, params, ts, window)
    assert bp.verify(hdrs["X-API-Key"], message, hdrs["X-Signature"])
    assert not bp.verify(BP_API_KEY, message + "0", hdrs["X-Signature"])
    assert message.startswith(f"instruction={instruction}")
    assert message.endswith(f"&timestamp={ts}&window={window}")
    assert message.count("&") >= sum(v is not None for v in params.values()) + 2
