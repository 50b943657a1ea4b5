"""Aster's signatures checked as the venue's server does (docs/venues/aster.md#authentication),
written from the venue's documentation, not from our client: V1 HMAC-SHA256 over the raw
query and body, V3 EIP-712 signer recovery, and the V3 nonce rules."""

from __future__ import annotations

import hashlib
import heapq
import hmac
from enum import StrEnum

import coincurve
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

CHAIN_ID_MAINNET = 1666
CHAIN_ID_TESTNET = 714
MAX_RECV_WINDOW_MS = 60_000
DOMAIN_NAME = "AsterSignTransaction"
DOMAIN_VERSION = "1"
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_MESSAGE_TYPE = "Message(string msg)"


# --- V1 ---------------------------------------------------------------------------------


def v1_hmac(secret: str, total_params: str) -> str:
    """Lowercase hex HMAC-SHA256 of the query and body as sent, nothing between them."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def verify_v1(raw_query: str, raw_body: str, secret: str) -> bool:
    """Exactly one `signature` (query or body), matching, case-insensitively, the HMAC of
    the query and body without it, every other byte as received."""
    query, in_query = _without_signature(raw_query)
    body, in_body = _without_signature(raw_body)
    signatures = in_query + in_body
    if len(signatures) != 1:
        return False
    return hmac.compare_digest(v1_hmac(secret, query + body), signatures[0].lower())


def _without_signature(raw: str) -> tuple[str, list[str]]:
    if not raw:
        return "", []
    parts = raw.split("&")
    kept = [p for p in parts if not p.startswith("signature=")]
    return "&".join(kept), [p.removeprefix("signature=") for p in parts if p not in kept]


# --- V3 ---------------------------------------------------------------------------------


def domain_separator(chain_id: int) -> bytes:
    """keccak256(abi.encode(typehash, keccak(name), keccak(version), chainId, address(0)))."""
    return keccak(
        keccak(text=_DOMAIN_TYPE)
        + keccak(text=DOMAIN_NAME)
        + keccak(text=DOMAIN_VERSION)
        + chain_id.to_bytes(32, "big")
        + bytes(32)  # verifyingContract: the zero address, left-padded
    )


def v3_digest(msg: str, chain_id: int) -> bytes:
    """keccak256(0x19 0x01 ‖ domainSeparator ‖ keccak256(abi.encode(typehash, keccak(msg))))."""
    struct_hash = keccak(keccak(text=_MESSAGE_TYPE) + keccak(text=msg))
    return keccak(b"\x19\x01" + domain_separator(chain_id) + struct_hash)


def recover_signer(msg: str, signature_hex: str, chain_id: int) -> str:
    """The checksum address whose key signed `msg` (r ‖ s ‖ v, v 27 or 28, with or without
    0x); ValueError for a malformed signature."""
    try:
        signature = bytes.fromhex(signature_hex.removeprefix("0x").removeprefix("0X"))
    except ValueError:
        raise ValueError("signature is not hex") from None
    if len(signature) != 65 or signature[64] not in (27, 28):
        raise ValueError("signature is not 65 bytes r, s, v")
    recoverable = signature[:64] + bytes([signature[64] - 27])
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            recoverable, v3_digest(msg, chain_id), hasher=None
        )
    except Exception:  # coincurve raises a bare Exception for an unrecoverable signature
        raise ValueError("signature recovers no key") from None
    return to_checksum_address(keccak(key.format(compressed=False)[1:])[-20:])


class NonceVerdict(StrEnum):
    OK = "ok"
    DUPLICATE = "duplicate"
    EXPIRED = "expired"
    AHEAD = "ahead"


class NonceGuard:
    """Per-signer V3 nonces (µs): within ±window of server time, never twice; the 100 most
    recent are kept, and when they are, a nonce below their minimum is expired while a newer
    one evicts the oldest."""

    def __init__(self, window_s: float = 60.0, capacity: int = 100) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.window_us = int(window_s * 1_000_000)
        self.capacity = capacity
        self._recent: dict[str, list[int]] = {}  # a min-heap per signer

    def check(self, signer: str, nonce_us: int, now_us: int) -> NonceVerdict:
        """Judge `nonce_us` and, if OK, remember it."""
        if nonce_us > now_us + self.window_us:
            return NonceVerdict.AHEAD
        if nonce_us < now_us - self.window_us:
            return NonceVerdict.EXPIRED
        recent = self._recent.setdefault(signer.lower(), [])
        if nonce_us in recent:
            return NonceVerdict.DUPLICATE
        if len(recent) < self.capacity:
            heapq.heappush(recent, nonce_us)
        elif nonce_us < recent[0]:
            return NonceVerdict.EXPIRED
        else:
            heapq.heapreplace(recent, nonce_us)
        return NonceVerdict.OK

    def recent(self, signer: str) -> list[int]:
        """The nonces remembered for `signer`, ascending."""
        return sorted(self._recent.get(signer.lower(), []))
