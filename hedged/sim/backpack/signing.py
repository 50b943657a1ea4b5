"""Backpack's signatures checked as the venue's server does
(docs/venues/backpack.md#authentication), written from the venue's documentation, not from our
client: the instruction's signing string rebuilt from the received parameters, and ED25519."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DEFAULT_WINDOW_MS = 5_000
MAX_WINDOW_MS = 60_000


def rendered(value: object) -> str:
    """A received value as signed: strings raw, booleans `true`/`false`, numbers as their JSON
    text (JSON numbers are read as Decimal); TypeError for lists and objects."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value)
    raise TypeError(f"a {type(value).__name__} parameter cannot be signed")


def signing_string(
    instruction: str, params: Mapping[str, object], timestamp_ms: int, window_ms: int
) -> str:
    """`instruction=<i>[&k=v, keys sorted]&timestamp=<ms>&window=<ms>`."""
    fields = [f"instruction={instruction}"]
    fields += [f"{key}={rendered(params[key])}" for key in sorted(params)]
    fields += [f"timestamp={timestamp_ms}", f"window={window_ms}"]
    return "&".join(fields)


def verify(api_key_b64: str, message: str, signature_b64: str) -> bool:
    """Whether the base64 ED25519 `signature_b64` of `message` is the key's; False for any
    malformed key, signature or base64."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(api_key_b64, validate=True))
        key.verify(base64.b64decode(signature_b64, validate=True), message.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
