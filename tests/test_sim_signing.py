"""The simulators' request verification held to the venues' documented test vectors
(docs/venues/aster.md#test-vectors, docs/venues/backpack.md#test-vectors): V1 HMAC, V3 EIP-712
signer recovery and nonce rules, Backpack's signing string and ED25519; no client code."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from vectors import (
    BP_API_KEY,
    BP_CANCEL,
    BP_CANCEL_SIG,
    BP_EXECUTE,
    BP_EXECUTE_SIG,
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
    V3_MSG,
    V3_SIGNATURE,
    V3_SIGNER,
    V3_USER,
)

from hedged.sim.aster import signing as aster
from hedged.sim.aster.signing import CHAIN_ID_MAINNET, CHAIN_ID_TESTNET, NonceGuard, NonceVerdict
from hedged.sim.backpack import signing as bp

# --- Aster V1 --------------------------------------------------------------------------------


def test_v1_hmac_vectors() -> None:
    assert aster.v1_hmac(V1_SECRET, V1_PAYLOAD) == V1_SIGNATURE
    assert aster.v1_hmac(V1_SECRET, V1_MIXED_QUERY + V1_MIXED_BODY) == V1_MIXED_SIGNATURE


def test_v1_accepts_the_vectors_wherever_the_signature_is() -> None:
    signed = f"{V1_PAYLOAD}&signature={V1_SIGNATURE}"
    assert aster.verify_v1(signed, "", V1_SECRET)
    assert aster.verify_v1("", signed, V1_SECRET)
    mixed_sig = f"signature={V1_MIXED_SIGNATURE}"
    assert aster.verify_v1(V1_MIXED_QUERY, f"{V1_MIXED_BODY}&{mixed_sig}", V1_SECRET)
    assert aster.verify_v1(f"{V1_MIXED_QUERY}&{mixed_sig}", V1_MIXED_BODY, V1_SECRET)


def test_v1_signature_is_case_insensitive() -> None:
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
def test_v1_rejects(query: str, body: str, secret: str | None) -> None:
    assert not aster.verify_v1(query, body, secret or V1_SECRET)


# --- Aster V3 --------------------------------------------------------------------------------


def test_v3_domain_separator_and_digest_vectors() -> None:
    assert aster.domain_separator(CHAIN_ID_MAINNET).hex() == V3_DOMAIN_SEPARATOR
    assert aster.v3_digest(V3_MSG, CHAIN_ID_MAINNET).hex() == V3_DIGEST
    assert aster.domain_separator(CHAIN_ID_TESTNET).hex() != V3_DOMAIN_SEPARATOR


@pytest.mark.parametrize("prefix", ["", "0x"])
def test_v3_recovers_the_vector_signer(prefix: str) -> None:
    assert aster.recover_signer(V3_MSG, prefix + V3_SIGNATURE, CHAIN_ID_MAINNET) == V3_SIGNER
    upper = prefix + V3_SIGNATURE.upper()
    assert aster.recover_signer(V3_MSG, upper, CHAIN_ID_MAINNET) == V3_SIGNER


def _recover_or_none(msg: str, signature: str, chain_id: int) -> str | None:
    try:
        return aster.recover_signer(msg, signature, chain_id)
    except ValueError:
        return None


def test_v3_tampering_recovers_someone_else() -> None:
    tampered = V3_MSG.replace("0.010", "0.011")
    assert _recover_or_none(tampered, V3_SIGNATURE, CHAIN_ID_MAINNET) != V3_SIGNER
    flipped = ("0" if V3_SIGNATURE[0] != "0" else "1") + V3_SIGNATURE[1:]
    assert _recover_or_none(V3_MSG, flipped, CHAIN_ID_MAINNET) != V3_SIGNER
    assert _recover_or_none(V3_MSG, V3_SIGNATURE, CHAIN_ID_TESTNET) != V3_SIGNER


@pytest.mark.parametrize(
    "signature", ["", "zz", V3_SIGNATURE[:-2], "ff" * 65, V3_SIGNATURE[:-2] + "01"]
)
def test_v3_malformed_signature_raises_value_error(signature: str) -> None:
    with pytest.raises(ValueError):
        aster.recover_signer(V3_MSG, signature, CHAIN_ID_MAINNET)


# --- Aster V3 nonce rules --------------------------------------------------------------------

NOW_US = 1_750_000_000_000_000
SECOND_US = 1_000_000


def test_nonce_ok_then_duplicate() -> None:
    guard = NonceGuard()
    assert guard.check(V3_SIGNER, NOW_US, NOW_US) is NonceVerdict.OK
    assert guard.check(V3_SIGNER, NOW_US, NOW_US) is NonceVerdict.DUPLICATE
    assert guard.check(V3_SIGNER.lower(), NOW_US, NOW_US) is NonceVerdict.DUPLICATE
    assert guard.check(V3_USER, NOW_US, NOW_US) is NonceVerdict.OK  # tracked per signer


def test_nonce_window_edges() -> None:
    guard = NonceGuard()  # +/-60 s
    assert guard.check(V3_SIGNER, NOW_US - 60 * SECOND_US, NOW_US) is NonceVerdict.OK
    assert guard.check(V3_SIGNER, NOW_US + 60 * SECOND_US, NOW_US) is NonceVerdict.OK
    assert guard.check(V3_SIGNER, NOW_US - 60 * SECOND_US - 1, NOW_US) is NonceVerdict.EXPIRED
    assert guard.check(V3_SIGNER, NOW_US + 60 * SECOND_US + 1, NOW_US) is NonceVerdict.AHEAD


def test_nonce_narrow_window() -> None:
    guard = NonceGuard(window_s=10)
    assert guard.check(V3_SIGNER, NOW_US - 11 * SECOND_US, NOW_US) is NonceVerdict.EXPIRED
    assert guard.check(V3_SIGNER, NOW_US + 11 * SECOND_US, NOW_US) is NonceVerdict.AHEAD


def test_nonce_eviction_at_100() -> None:
    guard = NonceGuard()
    oldest = NOW_US - 100
    for nonce in range(oldest, NOW_US):
        assert guard.check(V3_SIGNER, nonce, NOW_US) is NonceVerdict.OK
    assert len(guard.recent(V3_SIGNER)) == 100
    assert guard.check(V3_SIGNER, oldest - 1, NOW_US) is NonceVerdict.EXPIRED  # below the min
    assert guard.check(V3_SIGNER, NOW_US, NOW_US) is NonceVerdict.OK  # evicts `oldest`
    assert guard.recent(V3_SIGNER)[0] == oldest + 1
    assert len(guard.recent(V3_SIGNER)) == 100
    assert guard.check(V3_SIGNER, oldest, NOW_US) is NonceVerdict.EXPIRED  # evicted: unknown
    assert guard.check(V3_SIGNER, oldest + 1, NOW_US) is NonceVerdict.DUPLICATE


# --- Backpack --------------------------------------------------------------------------------


def test_signing_strings_rebuilt_from_received_params_match_the_vectors() -> None:
    # As the server reads them: JSON body values, numbers as Decimal or int.
    cancel = {"symbol": "BTC_USDT", "orderId": 28}
    assert bp.signing_string("orderCancel", cancel, 1614550000000, 5000) == BP_CANCEL
    execute = {
        "symbol": "SOL_USDC_PERP",
        "side": "Bid",
        "orderType": "Market",
        "quantity": "0.5",
        "clientId": 42,
    }
    assert bp.signing_string("orderExecute", execute, 1750000000000, 5000) == BP_EXECUTE
    assert bp.signing_string("subscribe", {}, 1750000000000, 5000) == BP_SUBSCRIBE


def test_signing_string_renders_booleans_lowercase_and_refuses_objects() -> None:
    message = bp.signing_string("orderExecute", {"postOnly": False, "b": True}, 1, 5000)
    assert message == "instruction=orderExecute&b=true&postOnly=false&timestamp=1&window=5000"
    with pytest.raises(TypeError):
        bp.signing_string("orderExecute", {"a": [1]}, 1, 5000)


@pytest.mark.parametrize(
    ("message", "signature"),
    [(BP_CANCEL, BP_CANCEL_SIG), (BP_EXECUTE, BP_EXECUTE_SIG), (BP_SUBSCRIBE, BP_SUBSCRIBE_SIG)],
)
def test_ed25519_vectors_verify(message: str, signature: str) -> None:
    assert bp.verify(BP_API_KEY, message, signature)


def test_ed25519_rejects_tampering_and_malformed_input() -> None:
    assert not bp.verify(BP_API_KEY, BP_CANCEL.replace("orderId=28", "orderId=29"), BP_CANCEL_SIG)
    assert not bp.verify(BP_API_KEY, BP_CANCEL, BP_EXECUTE_SIG)
    raw = bytearray(base64.b64decode(BP_CANCEL_SIG))
    raw[0] ^= 1
    assert not bp.verify(BP_API_KEY, BP_CANCEL, base64.b64encode(raw).decode())
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not bp.verify(base64.b64encode(other).decode(), BP_CANCEL, BP_CANCEL_SIG)
    assert not bp.verify(BP_API_KEY, BP_CANCEL, "not base64!")
    assert not bp.verify("AAAA", BP_CANCEL, BP_CANCEL_SIG)
