"""Aster request signing: V1 HMAC-SHA256 and V3 EIP-712 (agent wallet).

The simulator verifies with its own code, written from the venue's documentation, so that it
can catch this module's mistakes. Secrets and private keys never appear in exception messages.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import coincurve
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.crypto import keccak

from hedged.keys import evm_account

__all__ = [
    "CHAIN_ID_MAINNET",
    "CHAIN_ID_TESTNET",
    "MAX_RECV_WINDOW_MS",
    "V3Key",
    "form",
    "hmac_signature",
    "new_agent_key",
    "sign_v1",
    "sign_v3",
    "v3_digest",
    "v3_message",
    "v3_signable_message",
]

CHAIN_ID_MAINNET = 1666
CHAIN_ID_TESTNET = 714
MAX_RECV_WINDOW_MS = 60_000
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

_EIP712_TYPES: dict[str, Any] = {"Message": [{"name": "msg", "type": "string"}]}
_MESSAGE_TYPE_HASH = keccak(text="Message(string msg)")

Params = Sequence[tuple[str, str]]

# What `urlencode` leaves as it is: an order's keys and values (symbols, sides, decimals,
# client ids, addresses) are nothing else.
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")


def form(pairs: Params) -> str:
    """`urlencode(pairs)`, byte for byte; when no key or value needs quoting, without
    quoting each (~40 µs an order, on the way to the socket)."""
    if _PLAIN.fullmatch("".join(k + v for k, v in pairs)):
        return "&".join(f"{k}={v}" for k, v in pairs)
    return urlencode(pairs)


# --- V1: HMAC-SHA256 ---------------------------------------------------------------------


def hmac_signature(secret: str, total_params: str) -> str:
    """Lowercase hex HMAC-SHA256 of `total_params` (raw query + raw body, nothing between)."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def sign_v1(params: Params, secret: str, timestamp_ms: int, recv_window_ms: int) -> str:
    """URL-encoded `params&recvWindow=..&timestamp=..&signature=..`, to be sent byte for byte."""
    if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
        raise ValueError(f"recvWindow must be in (0, {MAX_RECV_WINDOW_MS}] ms")
    pairs = [*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(timestamp_ms))]
    payload = form(pairs)
    return f"{payload}&signature={hmac_signature(secret, payload)}"


# --- V3: EIP-712 agent-wallet signing --------------------------------------------------------


def v3_message(params: Params, user: str | None, signer: str, nonce_us: int) -> str:
    """The signed `msg`: business params in order, then nonce, user (if any), signer."""
    pairs = [*params, ("nonce", str(nonce_us))]
    if user:
        pairs.append(("user", user))
    pairs.append(("signer", signer))
    return form(pairs)


def v3_signable_message(msg: str, chain_id: int = CHAIN_ID_MAINNET) -> SignableMessage:
    """EIP-712 typed data for `msg`; `.header` is the domain separator, `.body` the struct hash."""
    domain = {
        "name": "AsterSignTransaction",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": ZERO_ADDRESS,
    }
    return encode_typed_data(domain, _EIP712_TYPES, {"msg": msg})


@functools.cache
def _domain_separator(chain_id: int) -> bytes:
    return bytes(v3_signable_message("", chain_id).header)


def v3_digest(msg: str, chain_id: int = CHAIN_ID_MAINNET) -> bytes:
    """The EIP-712 hash signed for `msg`: keccak(0x1901, domain separator, struct hash). The
    same bytes as `v3_signable_message` through eth_account's general encoder (~0.2 ms a
    request), from the domain separator computed once and the struct of one string."""
    struct_hash = keccak(_MESSAGE_TYPE_HASH + keccak(text=msg))
    return keccak(b"\x19\x01" + _domain_separator(chain_id) + struct_hash)


class V3Key:
    """An agent's private key parsed once: its address, and libsecp256k1 to sign with."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key_hex: str) -> None:
        account = evm_account(private_key_hex)
        self.address = str(account.address)
        self._key = coincurve.PrivateKey(bytes(account.key))

    def sign(self, digest: bytes) -> bytes:
        """r, s and v = 27 + recovery id: 65 bytes, as eth_account signs (RFC 6979, low s)."""
        rsv = self._key.sign_recoverable(digest, hasher=None)
        return rsv[:64] + bytes([rsv[64] + 27])

    def __repr__(self) -> str:
        return f"V3Key(address={self.address})"


def sign_v3(
    params: Params,
    *,
    user: str | None,
    signer: str,
    signer_key: str | V3Key,
    nonce_us: int,
    chain_id: int = CHAIN_ID_MAINNET,
) -> str:
    """`msg&signature=0x..` ready to send as query string or form body. A key parsed once
    into a `V3Key` saves a key derivation per request."""
    key = signer_key if isinstance(signer_key, V3Key) else V3Key(signer_key)
    if key.address.lower() != signer.lower():
        raise ValueError(f"signer {signer} does not match the signing key's address")
    msg = v3_message(params, user, signer, nonce_us)
    return f"{msg}&signature=0x{key.sign(v3_digest(msg, chain_id)).hex()}"


def new_agent_key() -> tuple[str, str]:
    """A fresh random (0x private key, checksum address), for paper mode."""
    account = Account.create()
    return "0x" + bytes(account.key).hex(), str(account.address)
