"""The clients' Aster (V1 HMAC, V3 EIP-712) and Backpack (ED25519) signing against the test
vectors of docs/venues/aster.md and docs/venues/backpack.md; what they sign is checked by the
simulators' verifiers, themselves held to the same vectors in test_sim_signing.py."""

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
from vectors import (
    BP_API_KEY,
    BP_CANCEL,
    BP_CANCEL_SIG,
    BP_EXECUTE,
    BP_EXECUTE_SIG,
    BP_SECRET,
    BP_SUBSCRIBE,
    BP_SUBSCRIBE_SIG,
    V1_MIXED_BODY,
    V1_MIXED_QUERY,
    V1_MIXED_SIGNATURE,
    V1_PAYLOAD,
    V1_SECRET,
    V1_SIGNATURE,
    V3_DIGEST,
    V3_DOMAIN_SEPARATOR,
    V3_KEY,
    V3_MSG,
    V3_NONCE,
    V3_PARAMS,
    V3_SIGNATURE,
    V3_SIGNER,
    V3_USER,
)

from hedged import keys as key_formats
from hedged.adapters.aster import signing as aster
from hedged.adapters.backpack import signing as bp
from hedged.sim.aster import signing as venue_aster
from hedged.sim.backpack import signing as venue_bp


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def _recover_or_none(
    msg: str, signature: str, chain_id: int = aster.CHAIN_ID_MAINNET
) -> str | None:
    try:
        address: str = venue_aster.recover_signer(msg, signature, chain_id)
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
    assert key_formats.address_of(V3_KEY) == V3_SIGNER
    assert key_formats.address_of(V3_KEY.removeprefix("0x")) == V3_SIGNER


def test_sign_v3_reproduces_the_vector() -> None:
    signed = aster.sign_v3(
        V3_PARAMS, user=V3_USER, signer=V3_SIGNER, signer_key=V3_KEY, nonce_us=V3_NONCE
    )
    assert signed == f"{V3_MSG}&signature=0x{V3_SIGNATURE}"


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
    assert venue_aster.recover_signer(msg, signature, aster.CHAIN_ID_TESTNET) == V3_SIGNER
    assert _recover_or_none(msg, signature) != V3_SIGNER


def test_sign_v3_rejects_a_signer_that_is_not_the_key() -> None:
    with pytest.raises(ValueError) as info:
        aster.sign_v3(V3_PARAMS, user=None, signer=V3_USER, signer_key=V3_KEY, nonce_us=1)
    assert V3_KEY.removeprefix("0x") not in _exception_text(info.value)


def test_new_agent_key_round_trips() -> None:
    key, address = aster.new_agent_key()
    assert key_formats.address_of(key) == address
    signed = aster.sign_v3([("a", "b")], user=None, signer=address, signer_key=key, nonce_us=1)
    msg, signature = signed.rsplit("&signature=", 1)
    assert venue_aster.recover_signer(msg, signature, aster.CHAIN_ID_MAINNET) == address


# --- Backpack --------------------------------------------------------------------------------


def test_backpack_public_key_vector() -> None:
    assert key_formats.public_key_b64(BP_SECRET) == BP_API_KEY


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


def test_backpack_accepts_64_byte_secret() -> None:
    seed_and_pub = base64.b64encode(
        base64.b64decode(BP_SECRET) + base64.b64decode(BP_API_KEY)
    ).decode()
    assert bp.sign(seed_and_pub, BP_CANCEL) == BP_CANCEL_SIG
    assert key_formats.public_key_b64(seed_and_pub) == BP_API_KEY


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
    assert venue_bp.verify(BP_API_KEY, message, batch["X-Signature"])
    with pytest.raises(ValueError):
        bp.headers(BP_API_KEY, BP_SECRET, "orderCancel", params, 1, 60_001)


def test_backpack_new_keypair_round_trips() -> None:
    secret, public = bp.new_keypair()
    assert len(base64.b64decode(secret)) == 32
    assert key_formats.public_key_b64(secret) == public
    assert venue_bp.verify(public, BP_SUBSCRIBE, bp.sign(secret, BP_SUBSCRIBE))


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
        key_formats.address_of(bad_key)
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
        lambda: key_formats.public_key_b64(bad_secret),
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
    assert venue_aster.verify_v1(signed, "", secret)
    assert venue_aster.verify_v1("", signed, secret)
    # Mixed: the first `split` params in the query, the rest in the body, signature in either.
    query, body = urlencode(params[:split]), urlencode(params[split:])
    signature = f"signature={aster.hmac_signature(secret, query + body)}"
    assert venue_aster.verify_v1(query, f"{body}&{signature}" if body else signature, secret)
    assert venue_aster.verify_v1(f"{query}&{signature}" if query else signature, body, secret)
    decoded = parse_qsl(signed, keep_blank_values=True)
    assert decoded[: len(params)] == params
    assert [k for k, _ in decoded[len(params) :]] == ["recvWindow", "timestamp", "signature"]
    assert not venue_aster.verify_v1(signed, "", secret + "x")


@settings(max_examples=25, deadline=None)
@given(params=pair_lists, nonce=st.integers(0, 2**63), with_user=st.booleans())
def test_property_aster_v3_round_trip(
    params: list[tuple[str, str]], nonce: int, with_user: bool
) -> None:
    user = V3_USER if with_user else None
    signed = aster.sign_v3(params, user=user, signer=V3_SIGNER, signer_key=V3_KEY, nonce_us=nonce)
    msg, signature = signed.rsplit("&signature=", 1)
    assert msg == aster.v3_message(params, user, V3_SIGNER, nonce)
    assert venue_aster.recover_signer(msg, signature, aster.CHAIN_ID_MAINNET) == V3_SIGNER
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
    assert venue_bp.verify(hdrs["X-API-Key"], message, hdrs["X-Signature"])
    assert not venue_bp.verify(BP_API_KEY, message + "0", hdrs["X-Signature"])
    assert message.startswith(f"instruction={instruction}")
    assert message.endswith(f"&timestamp={ts}&window={window}")
    assert message.count("&") >= sum(v is not None for v in params.values()) + 2
