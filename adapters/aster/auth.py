"""Client side of Aster authentication: never-repeating V3 nonces and the signer (V1 HMAC or
V3 EIP-712 agent) that turns business params into the exact wire string, timed by the
venue's clock (`hedged.adapters.clock`).

The cryptography is `hedged.adapters.aster.signing`; nothing here re-implements it. Secrets
stay inside `Secret` until the moment of signing and never appear in a repr or an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hedged.adapters.aster.signing import (
    CHAIN_ID_MAINNET,
    CHAIN_ID_TESTNET,
    V3Key,
    sign_v1,
    sign_v3,
)
from hedged.adapters.clock import ServerClock, write_window_ms
from hedged.config import AsterConfig
from hedged.keys import address_of
from hedged.secrets import AsterCredentials, Secret

Params = Sequence[tuple[str, str]]

# V3 nonces were accepted within +/-10 s of server time, then +/-60 s per signer
# (docs/venues/aster.md#the-signature-window). A delayed request can land until the wider
# bound has passed, so the window we rely on to call "not found" final is the wider one.
V3_NONCE_WINDOW_S = 60.0


class Nonces:
    """Microsecond nonces that never repeat, even for two requests in the same microsecond
    or after the clock offset moves backwards."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, now_us: int) -> int:
        self._last = max(now_us, self._last + 1)
        return self._last


@dataclass(frozen=True, slots=True)
class Paths:
    """The signed endpoints of one API family; public market data is the same in both."""

    order: str
    open_orders: str
    position_risk: str
    user_trades: str
    dual: str
    leverage: str
    margin_type: str
    listen_key: str
    income: str


V1_PATHS = Paths(
    order="/fapi/v1/order",
    open_orders="/fapi/v1/openOrders",
    position_risk="/fapi/v2/positionRisk",
    user_trades="/fapi/v1/userTrades",
    dual="/fapi/v1/positionSide/dual",
    leverage="/fapi/v1/leverage",
    margin_type="/fapi/v1/marginType",
    listen_key="/fapi/v1/listenKey",
    income="/fapi/v1/income",
)
V3_PATHS = Paths(
    order="/fapi/v3/order",
    open_orders="/fapi/v3/openOrders",
    position_risk="/fapi/v3/positionRisk",
    user_trades="/fapi/v3/userTrades",
    dual="/fapi/v3/positionSide/dual",
    leverage="/fapi/v3/leverage",
    margin_type="/fapi/v3/marginType",
    listen_key="/fapi/v3/listenKey",
    income="/fapi/v3/income",
)
TIME_PATH = "/fapi/v1/time"
EXCHANGE_INFO_PATH = "/fapi/v1/exchangeInfo"
BOOK_TICKER_PATH = "/fapi/v1/ticker/bookTicker"
PREMIUM_INDEX_PATH = "/fapi/v1/premiumIndex"
FUNDING_INFO_PATH = "/fapi/v1/fundingInfo"


class V1Signer:
    """API key header plus HMAC-SHA256 over `params&recvWindow&timestamp`."""

    version: Literal["v1"] = "v1"
    paths = V1_PATHS
    stream_signed = False  # listenKey calls take the API-key header only

    def __init__(
        self, api_key: Secret, api_secret: Secret, recv_window_ms: int, clock: ServerClock
    ) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self.recv_window_ms = recv_window_ms
        self.write_window_ms = recv_window_ms
        self._clock = clock

    @property
    def window_s(self) -> float:
        """The window of a write (orders and cancels), in seconds."""
        return self.write_window_ms / 1000

    def bound_writes(self, seconds: float) -> float:
        """Sign writes with a `recvWindow` of at most `seconds`; the window they now carry."""
        self.write_window_ms = write_window_ms(self.recv_window_ms, seconds)
        return self.window_s

    def headers(self) -> dict[str, str]:
        return {"X-MBX-APIKEY": self._api_key.reveal()}

    def sign(self, params: Params, write: bool = False) -> str:
        window = self.write_window_ms if write else self.recv_window_ms
        return sign_v1(params, self._api_secret.reveal(), self._clock.now_ms(), window)

    def __repr__(self) -> str:
        return f"V1Signer(recv_window_ms={self.recv_window_ms})"


class V3Signer:
    """EIP-712 agent signature over `params&nonce&user&signer` (no API key header)."""

    version: Literal["v3"] = "v3"
    paths = V3_PATHS
    stream_signed = True  # the doc says USER_STREAM is signed in V3; unsigned also works
    window_s = V3_NONCE_WINDOW_S

    def __init__(
        self,
        user: str | None,
        signer: str,
        signer_key: Secret,
        chain_id: int,
        clock: ServerClock,
    ) -> None:
        self.user = user
        self.signer = signer
        self._signer_key = signer_key
        self.chain_id = chain_id
        self._clock = clock
        self._nonces = Nonces()
        self._key: V3Key | None = None  # parsed on first use

    def bound_writes(self, seconds: float) -> float:
        """V3 carries no window of the sender's choosing: the venue's nonce window stays."""
        return self.window_s

    def headers(self) -> dict[str, str]:
        return {}

    def sign(self, params: Params, write: bool = False) -> str:
        if self._key is None:
            self._key = V3Key(self._signer_key.reveal())
        return sign_v3(
            params,
            user=self.user,
            signer=self.signer,
            signer_key=self._key,
            nonce_us=self._nonces.next(self._clock.now_us()),
            chain_id=self.chain_id,
        )

    def __repr__(self) -> str:
        return f"V3Signer(user={self.user}, signer={self.signer}, chain_id={self.chain_id})"


Signer = V1Signer | V3Signer


def chain_id_for(base_url: str) -> int:
    return CHAIN_ID_TESTNET if "testnet" in base_url.lower() else CHAIN_ID_MAINNET


def make_signer(
    config: AsterConfig,
    credentials: AsterCredentials,
    clock: ServerClock,
    chain_id: int | None = None,
) -> Signer:
    """The signer `config.auth` asks for; ValueError names a missing credential, never a value."""
    if config.auth == "v1":
        if credentials.api_key is None or credentials.api_secret is None:
            raise ValueError("aster.auth = 'v1' needs aster_api_key and aster_api_secret")
        return V1Signer(credentials.api_key, credentials.api_secret, config.recv_window_ms, clock)
    if credentials.signer_key is None:
        raise ValueError("aster.auth = 'v3' needs aster_signer_key")
    derived = address_of(credentials.signer_key.reveal())
    signer = credentials.signer or derived
    if signer.lower() != derived.lower():
        raise ValueError("aster_signer is not the address of aster_signer_key")
    return V3Signer(
        credentials.user,
        signer,
        credentials.signer_key,
        chain_id if chain_id is not None else chain_id_for(config.base_url),
        clock,
    )
