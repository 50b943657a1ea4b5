"""Who sent an Aster request: V1 HMAC under /fapi/v1|v2|v4, V3 EIP-712 agents under /fapi/v3.

The signature checks live in `signing`; this module applies the venue's rules around them
(which params are mandatory, the timing rule, nonce replay).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl

from hedged.sim.accounts import Accounts, AsterAgent, AsterV1Key
from hedged.sim.aster.errors import (
    AsterError,
    ahead_of_server,
    bad_key,
    bad_key_format,
    bad_signature,
    mandatory,
    nonce_expired,
    outside_window,
)
from hedged.sim.aster.signing import (
    CHAIN_ID_MAINNET,
    MAX_RECV_WINDOW_MS,
    NonceGuard,
    NonceVerdict,
    recover_signer,
    verify_v1,
)

API_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,128}")  # printable, no spaces
ADDRESS_FORMAT = re.compile(r"0x[0-9a-fA-F]{40}")
DEFAULT_RECV_WINDOW_MS = 5000
AHEAD_TOLERANCE_MS = 1000


class Security(Enum):
    NONE = "NONE"  # public market data
    USER_STREAM = "USER_STREAM"  # V1: API key only; V3: a known signer, signature optional
    SIGNED = "SIGNED"  # TRADE and USER_DATA


@dataclass(frozen=True, slots=True)
class Caller:
    """The simulator account behind a request (None on public endpoints), and its params
    (query string over body, as the venue merges them)."""

    account: str | None
    params: dict[str, str]


class Authenticator:
    def __init__(
        self,
        accounts: Accounts,
        clock: Callable[[], float],
        *,
        chain_id: int = CHAIN_ID_MAINNET,
        nonces: NonceGuard | None = None,
    ) -> None:
        self.accounts = accounts
        self.clock = clock
        self.chain_id = chain_id
        self.nonces = nonces or NonceGuard()

    def authenticate(
        self, security: Security, *, v3: bool, raw_query: str, raw_body: str, api_key: str | None
    ) -> Caller:
        params = dict(parse_qsl(raw_body, keep_blank_values=True))
        params.update(parse_qsl(raw_query, keep_blank_values=True))
        if security is Security.NONE:
            return Caller(None, params)
        if not v3:
            key = self._v1_key(api_key)
            if security is Security.SIGNED:
                self._v1_signature(params, raw_query, raw_body, key.secret)
            return Caller(key.account, params)
        if security is Security.USER_STREAM and "signature" not in params:
            # The demo posts V3 listenKey calls unsigned; the doc says signed: accept both.
            return Caller(self._v3_agent(params).account, params)
        return Caller(self._v3_signed(params, raw_query, raw_body), params)

    # V1

    def _v1_key(self, api_key: str | None) -> AsterV1Key:
        if not api_key or not API_KEY_FORMAT.fullmatch(api_key):
            raise bad_key_format()
        key = self.accounts.aster_v1.get(api_key)
        if key is None:
            raise bad_key()
        return key

    def _v1_signature(
        self, params: dict[str, str], raw_query: str, raw_body: str, secret: str
    ) -> None:
        timestamp = _int(params, "timestamp")
        recv_window = _int(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
        if not 0 < recv_window <= MAX_RECV_WINDOW_MS:
            # Binance's code and text; Aster's is UNCONFIRMED.
            raise AsterError(-1131, f"recvWindow must be less than {MAX_RECV_WINDOW_MS}.")
        if "signature" not in params:
            raise mandatory("signature")
        if not verify_v1(raw_query, raw_body, secret):
            raise bad_signature()
        now_ms = int(self.clock() * 1000)
        if timestamp >= now_ms + AHEAD_TOLERANCE_MS:
            raise ahead_of_server()
        if now_ms - timestamp > recv_window:
            raise outside_window()

    # V3

    def _v3_agent(self, params: dict[str, str]) -> AsterAgent:
        signer, user = params.get("signer"), params.get("user")
        if signer is None and user is not None:
            by_user = [a for a in self.accounts.aster_agents.values() if _same(a.user, user)]
            if not by_user:
                raise bad_key()
            return by_user[0]
        if not signer or not ADDRESS_FORMAT.fullmatch(signer):
            raise mandatory("signer")
        agent = self.accounts.aster_agents.get(signer.lower())
        if agent is None or (user is not None and not _same(agent.user, user)):
            raise bad_key()
        return agent

    def _v3_signed(self, params: dict[str, str], raw_query: str, raw_body: str) -> str:
        if not params.get("signer"):
            raise mandatory("signer")
        nonce = _int(params, "nonce")
        if not params.get("signature"):
            raise mandatory("signature")
        agent = self._v3_agent(params)
        msg = _unsigned(raw_query, raw_body)
        try:
            recovered = recover_signer(msg, params["signature"], self.chain_id)
        except ValueError:
            raise bad_signature() from None
        if not _same(recovered, agent.signer):
            raise bad_signature()
        # Only after the signature holds, so that a forgery cannot burn a nonce.
        verdict = self.nonces.check(agent.signer, nonce, int(self.clock() * 1_000_000))
        if verdict is NonceVerdict.AHEAD:
            raise ahead_of_server()
        if verdict is not NonceVerdict.OK:
            raise nonce_expired()
        return agent.account


def _unsigned(raw_query: str, raw_body: str) -> str:
    """The signed `msg`: every received param except `signature`, bytes as sent."""
    parts = [
        p for raw in (raw_query, raw_body) if raw for p in raw.split("&")
        if not p.startswith("signature=")
    ]  # fmt: skip
    return "&".join(parts)


def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    if raw is None or not raw.isdigit():
        raise mandatory(name)
    return int(raw)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()
