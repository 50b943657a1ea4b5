"""The two venues' key formats as an operator supplies them: an EVM private key (Aster's V3
agent wallet) and a base64 ED25519 secret (Backpack). Read here for the credential checks at
start-up (`hedged/secrets.py`) and for the clients' signers alike."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount


def evm_account(private_key_hex: str) -> LocalAccount:
    """The account of an EVM private key (0x optional); ValueError if it is not one."""
    try:
        account: LocalAccount = Account.from_key(private_key_hex)
    except (ValueError, TypeError):
        raise ValueError("invalid EVM private key (expected 32 bytes of hex)") from None
    return account


def address_of(private_key_hex: str) -> str:
    """Checksum address of an EVM private key."""
    return str(evm_account(private_key_hex).address)


def ed25519_key(secret_b64: str) -> Ed25519PrivateKey:
    """The ED25519 key of a base64 secret: a 32-byte seed, or seed and public key (64)."""
    try:
        raw = base64.b64decode(secret_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Backpack secret is not valid base64") from None
    if len(raw) not in (32, 64):
        raise ValueError(f"Backpack secret must decode to 32 or 64 bytes, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw[:32])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def public_key_b64(secret_b64: str) -> str:
    """Base64 public key (Backpack's API key) of a base64 secret."""
    return b64(ed25519_key(secret_b64).public_key().public_bytes_raw())
