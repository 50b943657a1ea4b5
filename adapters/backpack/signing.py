"""Backpack request signing and verification (ED25519 over the instruction signing string).

Used by the live client to sign and by the simulator to verify. Secrets never appear in
exception messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hedged.keys import b64, ed25519_key

__all__ = [
    "DEFAULT_WINDOW_MS",
    "MAX_WINDOW_MS",
    "batch_signing_string",
    "headers",
    "new_keypair",
    "render_value",
    "sign",
    "signing_string",
]

DEFAULT_WINDOW_MS = 5_000
MAX_WINDOW_MS = 60_000

Params = Mapping[str, object]


def render_value(value: object) -> str:
    """A param value as signed: bools lowercase, ints plain, Decimal fixed-point, str raw.

    The JSON body must carry the same text, so the client should render values with this too.
    """
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("cannot sign a non-finite Decimal")
        return format(value, "f")  # never exponent form ("1E-7")
    if isinstance(value, str):
        return value
    raise TypeError(f"cannot sign a {type(value).__name__} value; use str, int, bool or Decimal")


def _params_block(params: Params) -> str:
    return "&".join(
        f"{k}={render_value(params[k])}" for k in sorted(params) if params[k] is not None
    )


def _instruction_block(instruction: str, params: Params) -> str:
    block = _params_block(params)
    return f"instruction={instruction}&{block}" if block else f"instruction={instruction}"


def signing_string(instruction: str, params: Params, timestamp_ms: int, window_ms: int) -> str:
    """`instruction=X&<sorted params>&timestamp=..&window=..`
    (docs/venues/backpack.md#authentication)."""
    return f"{_instruction_block(instruction, params)}&timestamp={timestamp_ms}&window={window_ms}"


def batch_signing_string(
    instruction: str, items: Sequence[Params], timestamp_ms: int, window_ms: int
) -> str:
    """One `instruction=X&<sorted params>` block per item, then timestamp and window once."""
    if not items:
        raise ValueError("a batch needs at least one item")
    blocks = "&".join(_instruction_block(instruction, item) for item in items)
    return f"{blocks}&timestamp={timestamp_ms}&window={window_ms}"


def sign(secret: str | Ed25519PrivateKey, message: str) -> str:
    """Base64 ED25519 signature of the UTF-8 `message`, by a base64 secret or a key parsed
    once (`ed25519_key`: parsing costs more than signing)."""
    key = ed25519_key(secret) if isinstance(secret, str) else secret
    return b64(key.sign(message.encode()))


def new_keypair() -> tuple[str, str]:
    """A fresh random (base64 secret seed, base64 public key), for paper mode."""
    key = Ed25519PrivateKey.generate()
    return b64(key.private_bytes_raw()), b64(key.public_key().public_bytes_raw())


def headers(
    api_key_b64: str,
    secret_b64: str | Ed25519PrivateKey,
    instruction: str,
    params: Params | Sequence[Params],
    timestamp_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> dict[str, str]:
    """Auth headers for one request; a sequence of mappings is signed as a batch."""
    if not 0 < window_ms <= MAX_WINDOW_MS:
        raise ValueError(f"window must be in (0, {MAX_WINDOW_MS}] ms")
    if isinstance(params, Mapping):
        message = signing_string(instruction, params, timestamp_ms, window_ms)
    else:
        message = batch_signing_string(instruction, params, timestamp_ms, window_ms)
    return {
        "X-API-Key": api_key_b64,
        "X-Signature": sign(secret_b64, message),
        "X-Timestamp": str(timestamp_ms),
        "X-Window": str(window_ms),
    }
