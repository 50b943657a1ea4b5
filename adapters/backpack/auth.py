"""Client side of Backpack authentication: the API key and secret, the signature window and
the venue's clock, turned into the headers of a signed request or the `signature` array of a
private stream subscription (docs/venues/backpack.md#authentication). The cryptography is
`hedged.adapters.backpack.signing`.

Credentials stay inside `Secret` until the moment of signing; nothing here puts one in a
repr or an error, and `scrub` takes them out of any text a venue echoes back.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hedged.adapters.backpack.signing import headers
from hedged.adapters.backpack.wire import Param
from hedged.adapters.base import VenueError
from hedged.adapters.clock import ServerClock, write_window_ms
from hedged.adapters.errors import NotSent
from hedged.keys import ed25519_key, public_key_b64
from hedged.secrets import BackpackCredentials

SUBSCRIBE = "subscribe"


class Signer:
    def __init__(
        self, credentials: BackpackCredentials, window_ms: int, clock: ServerClock
    ) -> None:
        self._credentials = credentials
        self.window_ms = window_ms
        self.write_window_ms = window_ms  # orders' and cancels': see `bound_writes`
        self.clock = clock
        self._key: Ed25519PrivateKey | None = None  # parsed on first use, not per request

    def __repr__(self) -> str:
        return f"Signer(window_ms={self.window_ms})"

    def check(self) -> None:
        """VenueError unless the API key is the public key of the secret."""
        try:
            public = public_key_b64(self._credentials.api_secret.reveal())
        except ValueError as e:  # its message names the problem, never the value
            raise VenueError(f"backpack api secret: {e}") from None
        if public != self._credentials.api_key.reveal():
            raise VenueError("backpack api key is not the public key of the api secret")

    def bound_writes(self, seconds: float) -> float:
        """Sign writes with an `X-Window` of at most `seconds`; the window they now carry."""
        self.write_window_ms = write_window_ms(self.window_ms, seconds)
        return self.write_window_ms / 1000

    def headers(
        self,
        instruction: str,
        params: Mapping[str, Param],
        timestamp_ms: int | None = None,
        write: bool = False,
    ) -> dict[str, str]:
        """The auth headers, stamped now unless `timestamp_ms`; NotSent if they cannot be made."""
        try:
            if self._key is None:
                self._key = ed25519_key(self._credentials.api_secret.reveal())
            return headers(
                self._credentials.api_key.reveal(),
                self._key,
                instruction,
                params,
                self.clock.now_ms() if timestamp_ms is None else timestamp_ms,
                self.write_window_ms if write else self.window_ms,
            )
        except (ValueError, TypeError) as e:
            raise NotSent(f"cannot sign: {e}") from None

    def subscription(self) -> list[str]:
        """The `signature` array of a private SUBSCRIBE: key, signature, timestamp, window."""
        try:
            signed = self.headers(SUBSCRIBE, {})
        except NotSent as e:
            raise VenueError(f"backpack stream: {e}") from None
        return [signed[h] for h in ("X-API-Key", "X-Signature", "X-Timestamp", "X-Window")]

    def scrub(self, text: str) -> str:
        for value in (self._credentials.api_key.reveal(), self._credentials.api_secret.reveal()):
            if value:
                text = text.replace(value, "***")
        return text
