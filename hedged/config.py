"""Configuration: one TOML file validated into frozen, typed objects
(docs/architecture.md#configuration-and-secrets).

Every error names the file and the dotted key; the daemon exits with EX_CONFIG on any of them
before it touches a venue. Secrets never live here (see hedged.secrets).
"""

from __future__ import annotations

import difflib
import operator
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hedged.i18n import _

if sys.version_info >= (3, 11):  # noqa: UP036 -- tomli fallback kept for older interpreters
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EX_CONFIG = 78

DEFAULTS_SOURCE = "<defaults>"
OVERRIDES_SOURCE = "<overrides>"
_PSEUDO_FILES = (DEFAULTS_SOURCE, OVERRIDES_SOURCE)

Mode = Literal["continuous", "single"]
OnShutdown = Literal["keep", "flatten"]
# Which venue holds a round's short: Aster always (the original strategy), Backpack always,
# or, at each round's opening, the one where the hedge earns the more funding.
Direction = Literal["aster_short", "backpack_short", "auto"]
AsterAuth = Literal["v3", "v1"]
CredentialSource = Literal["env", "file", "systemd"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "text", "json", "journal"]


class ConfigError(Exception):
    """Names the file and the key: str(e) == f"{file}: {key}: {problem}"."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str, str]]:
        return ConfigError, (self.file, self.key, self.problem)


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    position_size_usdt: Decimal = Decimal("25")
    stop_loss: Decimal = Decimal("0.008")
    take_profit: Decimal = Decimal("0.012")
    # A reduce-only stop resting on the venue this far beyond each open leg's entry, so a
    # leg keeps a stop while no daemon runs; 0 = none.
    backstop_stop: Decimal = Decimal("0.02")
    # Off by default (the original behaviour): the survivor's take-profit target moves from
    # take_profit toward this fraction over the rest of the round, re-priced at most every
    # reprice_seconds; exit_as_maker_seconds before the time limit it becomes a post-only
    # limit at the touch.
    take_profit_decay_to: Decimal | None = None
    reprice_seconds: Decimal = Decimal("30")
    exit_as_maker_seconds: int = 0
    max_round_seconds: int = 3600
    cooldown_seconds: int = 30
    mode: Mode = "continuous"
    max_rounds: int = 0  # 0 = unlimited
    max_concurrent_rounds: int = 1
    daily_loss_limit_usdt: Decimal = Decimal("10")
    max_price_age_seconds: Decimal = Decimal("5")
    poll_interval_seconds: Decimal = Decimal("5")
    on_shutdown: OnShutdown = "keep"
    direction: Direction = "aster_short"
    # No round opens this many seconds before a funding settlement that would cost the
    # hedge; it opens after it. 0 = off.
    avoid_funding_seconds: int = 0


# What a `[[pair]]` table may set for itself; the rest of [strategy] is the daemon's.
PAIR_STRATEGY_KEYS = (
    "position_size_usdt",
    "stop_loss",
    "take_profit",
    "backstop_stop",
    "take_profit_decay_to",
    "reprice_seconds",
    "exit_as_maker_seconds",
    "max_round_seconds",
    "cooldown_seconds",
    "max_rounds",
    "max_concurrent_rounds",
    "daily_loss_limit_usdt",
    "direction",
    "avoid_funding_seconds",
)


@dataclass(frozen=True, slots=True)
class PairConfig:
    """One pair the daemon trades, with its own strategy: [strategy] with the pair's own
    overrides applied."""

    aster_symbol: str = "SOLUSDT"
    backpack_symbol: str = "SOL_USDC_PERP"
    strategy: StrategyConfig = field(default_factory=StrategyConfig)

    @property
    def base_asset(self) -> str:
        return self.aster_symbol.removesuffix("USDT")

    @property
    def name(self) -> str:
        """How the pair is named to people (hedgectl --pair, logs): the Aster symbol."""
        return self.aster_symbol


@dataclass(frozen=True, slots=True)
class AsterConfig:
    base_url: str = "https://fapi.asterdex.com"
    ws_url: str = "wss://fstream.asterdex.com"
    leverage: int = 1
    auth: AsterAuth = "v3"
    recv_window_ms: int = 5000
    taker_fee: Decimal = Decimal("0.00035")
    maker_fee: Decimal = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class BackpackConfig:
    base_url: str = "https://api.backpack.exchange"
    ws_url: str = "wss://ws.backpack.exchange"
    window_ms: int = 5000
    taker_fee: Decimal = Decimal("0.0004")
    maker_fee: Decimal = Decimal("0.0002")


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    source: CredentialSource = "env"
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    state_dir: Path
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "auto"
    # How long a leader's lease lasts without renewal: a standby takes over about this
    # long after the leader died (docs/leadership.md).
    lease_seconds: Decimal = Decimal(3)
    # Share the configured pairs' books with the other daemons on the store, each book traded
    # by one of them (docs/leadership.md#a-fleet); false: lead every book or stand by.
    fleet: bool = False


@dataclass(frozen=True, slots=True, repr=False)
class StoreConfig:
    url: str

    def __repr__(self) -> str:
        # a PostgreSQL URL may carry a password
        try:
            shown = make_url(self.url).render_as_string(hide_password=True)
        except ArgumentError:
            shown = "<invalid>"
        return f"StoreConfig(url={shown!r})"


@dataclass(frozen=True, slots=True)
class PaperConfig:
    seed: int = 7
    start_price: Decimal = Decimal("150")
    volatility: Decimal = Decimal("12")
    basis_bps: Decimal = Decimal("3")
    spread_bps: Decimal = Decimal("2")
    tick_seconds: Decimal = Decimal("0.2")
    price_csv: Path | None = None
    funding_hours: Decimal = Decimal(0)  # both venues settle this often; 0: each its own


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    port: int = 0  # Prometheus endpoint on 127.0.0.1; 0 = off


@dataclass(frozen=True, slots=True, repr=False)
class AlertsConfig:
    webhook_url: str = ""  # JSON POSTs on round events; "" = off
    venue_down_seconds: Decimal = Decimal("60")

    def __repr__(self) -> str:
        # a webhook URL often carries its token in the path or query: show the host only
        parts = urlsplit(self.webhook_url)
        shown = f"{parts.scheme}://{parts.netloc}/..." if self.webhook_url else ""
        return f"AlertsConfig(webhook_url={shown!r}, venue_down_seconds={self.venue_down_seconds})"


@dataclass(frozen=True, slots=True)
class Config:
    strategy: StrategyConfig
    pairs: tuple[PairConfig, ...]  # one `[pair]`, or every `[[pair]]` in order
    aster: AsterConfig
    backpack: BackpackConfig
    credentials: CredentialsConfig
    daemon: DaemonConfig
    store: StoreConfig
    paper: PaperConfig
    metrics: MetricsConfig
    alerts: AlertsConfig
    source: str

    @property
    def pair(self) -> PairConfig:
        """The first pair (the only one of a `[pair]` configuration)."""
        return self.pairs[0]


# --- value rules: each turns a raw TOML value into a typed one or raises _Invalid -------------


class _Invalid(Exception):
    """A value's problem; the loader adds the file and the key."""


Rule = Callable[[object], object]

_TOML_KINDS: dict[type, str] = {
    bool: "boolean",  # before int: bool is an int subclass
    int: "integer",
    Decimal: "float",
    float: "float",
    str: "string",
    dict: "table",
    list: "array",
}


def _kind(value: object) -> str:
    kinds = (name for t, name in _TOML_KINDS.items() if isinstance(value, t))
    return next(kinds, type(value).__name__)  # TOML dates and times: datetime, date, time


_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
Bound = int | str | None


def _check_range(value: Decimal | int, bounds: dict[str, Bound]) -> None:
    limits = {op: Decimal(bound) for op, bound in bounds.items() if bound is not None}
    if not all(_COMPARE[op](Decimal(value), limit) for op, limit in limits.items()):
        wanted = _(" and ").join(f"{op} {limit}" for op, limit in limits.items())
        raise _Invalid(_("must be {wanted}, got {value}").format(wanted=wanted, value=value))


# ASCII digits only: Decimal() would also take fullwidth or Arabic-Indic digits, and "1_000"
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,6})?", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Number:
    """A number rule with both bounds (every numeric key has a ceiling, so no value can
    overflow a date, a sleep or a Decimal context further on)."""

    integral: bool
    low: tuple[str, int | str]  # (">" or ">=", bound)
    high: tuple[str, int | str]  # ("<" or "<=", bound)

    def __call__(self, value: object) -> Decimal | int:
        number = self._integer(value) if self.integral else self._decimal(value)
        _check_range(number, {self.low[0]: self.low[1], self.high[0]: self.high[1]})
        return number

    @staticmethod
    def _integer(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(_("expected an integer, got {kind}").format(kind=_kind(value)))
        return value

    @staticmethod
    def _decimal(value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise _Invalid(_("expected a decimal number, got {kind}").format(kind=_kind(value)))
        if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
            raise _Invalid(
                _("expected a decimal number in ASCII digits, got {value!r}").format(
                    value=value[:40]
                )
            )
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _Invalid(
                _("expected a decimal number, got {value!r}").format(value=value)
            ) from None
        if not number.is_finite():
            raise _Invalid(_("must be a finite number, got {value}").format(value=value))
        return number


def _decimal(*, gt: Bound = None, ge: Bound = None, lt: Bound = None, le: Bound = None) -> Rule:
    low = (">", gt) if gt is not None else (">=", ge)
    high = ("<", lt) if lt is not None else ("<=", le)
    if low[1] is None or high[1] is None:
        raise TypeError("a number rule needs a lower and an upper bound")
    return _Number(integral=False, low=(low[0], low[1]), high=(high[0], high[1]))


def _integer(*, ge: int, le: int) -> Rule:
    return _Number(integral=True, low=(">=", ge), high=("<=", le))


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(_("expected a string, got {kind}").format(kind=_kind(value)))
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(_("expected true or false, got {kind}").format(kind=_kind(value)))
    return value


def _choice(literal: Any) -> Rule:
    allowed: tuple[str, ...] = get_args(literal)

    def rule(value: object) -> str:
        if _string(value) not in allowed:
            message = _("must be one of {allowed}, got {value!r}")
            raise _Invalid(message.format(allowed=", ".join(map(repr, allowed)), value=value))
        return str(value)

    return rule


def _symbol(pattern: str, example: str) -> Rule:
    def rule(value: object) -> str:
        if not re.fullmatch(pattern, _string(value)):
            message = _("must look like {example!r} (pattern {pattern}), got {value!r}")
            raise _Invalid(message.format(example=example, pattern=pattern, value=value))
        return str(value)

    return rule


def _url(*schemes: str) -> Rule:
    def rule(value: object) -> str:
        parts = urlsplit(_string(value))
        if parts.scheme not in schemes or not parts.netloc:
            message = _("must be a {schemes} URL, got {value!r}")
            raise _Invalid(message.format(schemes=_(" or ").join(schemes), value=value))
        return str(value)

    return rule


def _path(value: object) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise _Invalid(_("expected a path string, got {kind}").format(kind=_kind(value)))
    if not str(value):
        raise _Invalid(_("must not be empty"))
    return Path(value).expanduser()


def _webhook_url(value: object) -> str:
    # never echo the URL: its path or query often holds the webhook's token
    text = _string(value)
    parts = urlsplit(text)
    if text and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise _Invalid(_("must be an http or https URL, or empty (no webhook)"))
    return text


_STORE_BACKENDS = ("sqlite", "postgresql")


def _store_url(value: object) -> str:
    # never echo the URL: it may carry a database password
    try:
        url = make_url(_string(value))
    except ArgumentError:
        raise _Invalid(
            _("not a valid SQLAlchemy URL (e.g. sqlite:////var/lib/hedged/hedged.db)")
        ) from None
    backend = url.get_backend_name()
    if backend not in _STORE_BACKENDS:
        message = _("unsupported database {backend!r}; use one of {known}")
        raise _Invalid(message.format(backend=backend, known=", ".join(_STORE_BACKENDS)))
    try:
        url.get_dialect()
    except ArgumentError:
        message = _("unknown SQLAlchemy driver {driver!r}")
        raise _Invalid(message.format(driver=url.drivername)) from None
    if backend == "sqlite":
        _durable_sqlite(url)
    return str(value)


def _durable_sqlite(url: URL) -> None:
    """Refuse a SQLite store that would not outlive the process: write-ahead order intents
    kept in memory are lost with it, and the next start finds orphan positions."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory" or "vfs" in url.query:
        raise _Invalid(
            _(
                "an in-memory database is not durable; give a file, e.g. "
                "sqlite:////var/lib/hedged/hedged.db"
            )
        )
    if database.startswith("file:") or "uri" in url.query or "mode" in url.query:
        raise _Invalid(
            _(
                "SQLite URI filenames and modes are not supported; give a plain file path, "
                "e.g. sqlite:////var/lib/hedged/hedged.db"
            )
        )


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite store URL; None for any other backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def _relative_to(file_dir: Path, url: str) -> str:
    """A relative SQLite path given in a file is relative to that file, like every path."""
    database = sqlite_file(url)
    if database is None or database.is_absolute():
        return url
    parsed = make_url(url).set(database=str(file_dir / database))
    return parsed.render_as_string(hide_password=False)


_FEE = _decimal(ge=0, lt="0.01")
_WINDOW_MS = _integer(ge=1, le=60000)  # both venues cap the signature window at 60 s
_DAY = 86400
_MAX_USDT = 10_000_000
# a timer or a price age: fast enough for a test, never a busy loop, at most an hour
_SECONDS = _decimal(ge="0.01", le=3600)

_STRATEGY_RULES: dict[str, Rule] = {
    "position_size_usdt": _decimal(ge=1, le=_MAX_USDT),
    "stop_loss": _decimal(gt=0, lt="0.5"),
    "take_profit": _decimal(gt=0, lt=1),
    "backstop_stop": _decimal(ge=0, lt="0.5"),
    "take_profit_decay_to": _decimal(gt="-0.5", lt=1),
    "reprice_seconds": _decimal(ge=1, le=3600),
    "exit_as_maker_seconds": _integer(ge=0, le=30 * _DAY),
    "max_round_seconds": _integer(ge=1, le=30 * _DAY),
    "cooldown_seconds": _integer(ge=0, le=7 * _DAY),
    "mode": _choice(Mode),
    "max_rounds": _integer(ge=0, le=1_000_000_000),
    "max_concurrent_rounds": _integer(ge=1, le=10000),
    "daily_loss_limit_usdt": _decimal(gt=0, le=_MAX_USDT),
    "max_price_age_seconds": _SECONDS,
    "poll_interval_seconds": _SECONDS,
    "on_shutdown": _choice(OnShutdown),
    "direction": _choice(Direction),
    "avoid_funding_seconds": _integer(ge=0, le=_DAY),  # and below an hour: see below
}

_SCHEMA: dict[str, tuple[type[Any], dict[str, Rule]]] = {
    "strategy": (StrategyConfig, _STRATEGY_RULES),
    "pair": (
        PairConfig,
        {
            "aster_symbol": _symbol(r"[A-Z0-9]{2,20}USDT", "SOLUSDT"),
            "backpack_symbol": _symbol(r"[A-Z0-9]{2,20}_USDC_PERP", "SOL_USDC_PERP"),
            **{key: _STRATEGY_RULES[key] for key in PAIR_STRATEGY_KEYS},
        },
    ),
    "aster": (
        AsterConfig,
        {
            "base_url": _url("http", "https"),
            "ws_url": _url("ws", "wss"),
            "leverage": _integer(ge=1, le=125),
            "auth": _choice(AsterAuth),
            "recv_window_ms": _WINDOW_MS,
            "taker_fee": _FEE,
            "maker_fee": _FEE,
        },
    ),
    "backpack": (
        BackpackConfig,
        {
            "base_url": _url("http", "https"),
            "ws_url": _url("ws", "wss"),
            "window_ms": _WINDOW_MS,
            "taker_fee": _FEE,
            "maker_fee": _FEE,
        },
    ),
    "credentials": (CredentialsConfig, {"source": _choice(CredentialSource), "file": _path}),
    "daemon": (
        DaemonConfig,
        {
            "state_dir": _path,
            "log_level": _choice(LogLevel),
            "log_format": _choice(LogFormat),
            "lease_seconds": _decimal(ge=1, le=60),
            "fleet": _boolean,
        },
    ),
    "store": (StoreConfig, {"url": _store_url}),
    "paper": (
        PaperConfig,
        {
            "seed": _integer(ge=0, le=2**32 - 1),
            "start_price": _decimal(ge="0.01", le=1_000_000),
            "volatility": _decimal(gt=0, le=100),
            "basis_bps": _decimal(ge=-500, le=500),
            "spread_bps": _decimal(ge=0, le=500),
            "tick_seconds": _SECONDS,
            "price_csv": _path,
            "funding_hours": _decimal(ge=0, le=24),
        },
    ),
    "metrics": (MetricsConfig, {"port": _integer(ge=0, le=65535)}),
    "alerts": (
        AlertsConfig,
        {"webhook_url": _webhook_url, "venue_down_seconds": _decimal(ge=1, le=7 * _DAY)},
    ),
}

_REQUIRED_IN_FILE = ("pair.aster_symbol", "pair.backpack_symbol", "strategy.position_size_usdt")


# --- checks across keys: (key blamed, check returning a problem or None) ----------------------


def _take_profit_beyond_stop(s: StrategyConfig) -> str | None:
    if s.take_profit <= s.stop_loss:
        message = _("must be greater than stop_loss ({stop_loss}), got {take_profit}")
        return message.format(stop_loss=s.stop_loss, take_profit=s.take_profit)
    return None


def _backstop_beyond_stop(s: StrategyConfig) -> str | None:
    if 0 < s.backstop_stop <= s.stop_loss:
        message = _("must be greater than stop_loss ({stop_loss}) or 0 (none), got {backstop}")
        return message.format(stop_loss=s.stop_loss, backstop=s.backstop_stop)
    return None


def _backstop_needs_one_round(s: StrategyConfig) -> str | None:
    # Concurrent rounds share one net position per venue: a backstop that fired while no
    # daemon ran would leave its round's take-profit to fill against another round's position.
    if s.backstop_stop > 0 and s.max_concurrent_rounds > 1:
        message = _(
            "needs max_concurrent_rounds = 1 (it is {rounds}): concurrent rounds share one "
            "position per venue, so one round's venue-side stop would close another's; set "
            "backstop_stop = 0 to run concurrent rounds without venue-side stops"
        )
        return message.format(rounds=s.max_concurrent_rounds)
    return None


def _decay_within_take_profit(s: StrategyConfig) -> str | None:
    to = s.take_profit_decay_to
    if to is not None and not -s.stop_loss < to <= s.take_profit:
        message = _(
            "must be at most take_profit ({take_profit}) and above -stop_loss "
            "(-{stop_loss}), got {decay_to}"
        )
        return message.format(take_profit=s.take_profit, stop_loss=s.stop_loss, decay_to=to)
    return None


def _maker_exit_within_round(s: StrategyConfig) -> str | None:
    if s.exit_as_maker_seconds >= s.max_round_seconds:
        message = _("must be shorter than max_round_seconds ({limit}), got {seconds}")
        return message.format(limit=s.max_round_seconds, seconds=s.exit_as_maker_seconds)
    return None


def _avoid_window_below_an_hour(s: StrategyConfig) -> str | None:
    # Backpack settles every hour: a window as long always holds its next settlement, and
    # while the Backpack leg pays, no round would ever open.
    seconds = s.avoid_funding_seconds
    if seconds >= 3600:
        return _(
            "must be below 3600, got {seconds}: Backpack settles funding every hour, so a "
            "window of an hour or more would keep every round from opening while its "
            "Backpack leg pays"
        ).format(seconds=seconds)
    return None


def _same_base_asset(pair: PairConfig) -> str | None:
    backpack_base = pair.backpack_symbol.removesuffix("_USDC_PERP")
    if backpack_base != pair.base_asset:
        return _(
            "base asset {base!r} differs from {aster_base!r} of pair.aster_symbol {symbol!r}"
        ).format(base=backpack_base, aster_base=pair.base_asset, symbol=pair.aster_symbol)
    return None


def _credentials_file_iff_file_source(c: Config) -> str | None:
    if c.credentials.source == "file" and c.credentials.file is None:
        return _("required when credentials.source = 'file'")
    if c.credentials.source != "file" and c.credentials.file is not None:
        message = _("only allowed when credentials.source = 'file' (it is {source!r})")
        return message.format(source=c.credentials.source)
    return None


# Checked on [strategy] and again on each pair's own strategy.
_STRATEGY_CHECKS: tuple[tuple[str, Callable[[StrategyConfig], str | None]], ...] = (
    ("take_profit", _take_profit_beyond_stop),
    ("backstop_stop", _backstop_beyond_stop),
    ("backstop_stop", _backstop_needs_one_round),
    ("take_profit_decay_to", _decay_within_take_profit),
    ("exit_as_maker_seconds", _maker_exit_within_round),
    ("avoid_funding_seconds", _avoid_window_below_an_hour),
)


def _fleet_trades_on(c: Config) -> str | None:
    # A single-mode daemon exits after its one round per pair; in a fleet its books would
    # then be taken by the others, which would open more.
    if c.daemon.fleet and c.strategy.mode == "single":
        return _("needs strategy.mode = 'continuous': a fleet's daemons share rounds for good")
    return None


_CROSS_CHECKS: tuple[tuple[str, Callable[[Config], str | None]], ...] = (
    ("credentials.file", _credentials_file_iff_file_source),
    ("daemon.fleet", _fleet_trades_on),
)


# --- loading -----------------------------------------------------------------------------------

# section -> key -> (raw value, the file it came from)
_Raw = dict[str, dict[str, tuple[object, str]]]


_MAX_FILE_BYTES = 1 << 20


def _read_toml(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        # stat first: opening a FIFO would block, and /dev/zero never ends
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(file, "<file>", _("is a directory, not a regular file"))
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(file, "<file>", _("not a regular file"))
        with path.open("rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(file, "<file>", e.strerror or str(e)) from None
    if len(data) > _MAX_FILE_BYTES:
        message = _("larger than {limit} bytes").format(limit=_MAX_FILE_BYTES)
        raise ConfigError(file, "<file>", message)
    try:
        text = data.decode("utf-8-sig")  # a leading byte order mark is dropped
    except UnicodeDecodeError as e:
        message = _("not valid UTF-8 (byte {at})").format(at=e.start)
        raise ConfigError(file, "<toml>", message) from None
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(file, "<toml>", str(e)) from None


def _known_section(origin: str, section: str) -> None:
    if section not in _SCHEMA:
        raise ConfigError(origin, section, _("unknown section") + _did_you_mean(section, _SCHEMA))


def _put(raw: _Raw, origin: str, section: str, key: str, value: object) -> None:
    _known_section(origin, section)
    rules = _SCHEMA[section][1]
    if key not in rules:
        dotted = f"{section}.{key}"
        raise ConfigError(origin, dotted, _("unknown key") + _did_you_mean(key, rules))
    raw.setdefault(section, {})[key] = (value, origin)


def _did_you_mean(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return _(" (did you mean {name!r}?)").format(name=close[0]) if close else ""


def _default_state_dir() -> Path:
    if directory := os.environ.get("STATE_DIRECTORY"):
        return Path(directory.split(":")[0])  # systemd joins several StateDirectory= with ':'
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec says to ignore relative values
        return Path(xdg) / "hedged"
    return Path.home() / ".local" / "state" / "hedged"


def _build(section: str, raw: _Raw, file_dir: Path | None) -> Any:
    cls, rules = _SCHEMA[section]
    values: dict[str, object] = {}
    for key, (value, origin) in raw.get(section, {}).items():
        try:
            parsed = rules[key](value)
        except _Invalid as e:
            raise ConfigError(origin, f"{section}.{key}", str(e)) from None
        if file_dir is not None and origin not in _PSEUDO_FILES:
            # relative paths in a file are relative to that file
            if isinstance(parsed, Path):
                parsed = file_dir / parsed
            elif section == "store" and key == "url":
                parsed = _relative_to(file_dir, str(parsed))
        values[key] = parsed
    return cls(**values)


def load(path: Path | None = None, *, overrides: Mapping[str, Any] | None = None) -> Config:
    """Load and validate `path` (None: the embedded defaults), then apply dotted `overrides`.

    An override value of None means "not given". Raises ConfigError.
    """
    source = DEFAULTS_SOURCE if path is None else str(path)
    raw: _Raw = {}
    pairs: list[_Table] = []
    if path is not None:
        for section, table in _read_toml(Path(path)).items():
            _known_section(source, section)
            if section == "pair":
                pairs = _pair_tables(source, table)
                continue
            if not isinstance(table, dict):
                message = _("expected a table, got {kind}").format(kind=_kind(table))
                raise ConfigError(source, section, message)
            for key, value in table.items():
                _put(raw, source, section, key, value)
    for dotted, value in (overrides or {}).items():
        section, dot, key = dotted.partition(".")
        if not dot:
            raise ConfigError(
                OVERRIDES_SOURCE, dotted, _("expected a dotted key like 'strategy.mode'")
            )
        if value is None:
            continue
        if section != "pair":
            _put(raw, OVERRIDES_SOURCE, section, key, value)
        elif len(pairs) > 1:
            raise ConfigError(OVERRIDES_SOURCE, dotted, _("the file has several [[pair]] tables"))
        else:
            pairs = pairs or [{}]
            _put_pair(pairs[0], OVERRIDES_SOURCE, "pair", key, value)
    if path is not None:
        for i, table in enumerate(pairs or [{}]):
            for key in ("aster_symbol", "backpack_symbol"):
                if key not in table:
                    where = _pair_key(pairs, i)
                    raise ConfigError(source, f"{where}.{key}", _("missing required key"))
        for dotted in _REQUIRED_IN_FILE:
            section, _dot, key = dotted.partition(".")
            if section != "pair" and key not in raw.get(section, {}):
                raise ConfigError(source, dotted, _("missing required key"))

    file_dir = None if path is None else Path(path).absolute().parent
    raw.setdefault("daemon", {}).setdefault("state_dir", (_default_state_dir(), DEFAULTS_SOURCE))
    sections = {name: _build(name, raw, file_dir) for name in _SCHEMA if name not in _LATER}
    default_url = f"sqlite:///{sections['daemon'].state_dir}/hedged.db"
    raw.setdefault("store", {}).setdefault("url", (default_url, DEFAULTS_SOURCE))
    sections["store"] = _build("store", raw, file_dir)
    strategy: StrategyConfig = sections["strategy"]
    for key, strategy_check in _STRATEGY_CHECKS:
        if problem := strategy_check(strategy):
            _value, origin = raw.get("strategy", {}).get(key, (None, source))
            raise ConfigError(origin, f"strategy.{key}", problem)
    built = tuple(_build_pair(pairs, i, strategy) for i in range(len(pairs or [{}])))
    _distinct_symbols(pairs, built)
    config = Config(**sections, pairs=built, source=source)

    for dotted, check in _CROSS_CHECKS:
        if problem := check(config):
            section, _dot, key = dotted.partition(".")
            _value, origin = raw.get(section, {}).get(key, (None, source))
            raise ConfigError(origin, dotted, problem)
    return config


_LATER = ("store", "pair")  # built after the others: they need the state dir, the strategy

# A `[[pair]]` table's keys: key -> (raw value, the file it came from)
_Table = dict[str, tuple[object, str]]


def _pair_tables(source: str, value: object) -> list[_Table]:
    """`[pair]` (one table) or `[[pair]]` (an array of tables), read into raw tables."""
    tables = value if isinstance(value, list) else [value]
    if not tables:
        raise ConfigError(source, "pair", _("at least one [[pair]] table is needed"))
    pairs: list[_Table] = []
    for i, table in enumerate(tables):
        symbol = table.get("aster_symbol") if isinstance(table, dict) else None
        where = _pair_name(symbol, i, len(tables))
        if not isinstance(table, dict):
            message = _("expected a table, got {kind}").format(kind=_kind(table))
            raise ConfigError(source, where, message)
        pairs.append({})
        for key, item in table.items():
            _put_pair(pairs[-1], source, where, key, item)
    return pairs if isinstance(value, list) else pairs[:1]


def _put_pair(table: _Table, origin: str, where: str, key: str, value: object) -> None:
    rules = _SCHEMA["pair"][1]
    if key not in rules:
        hint = _did_you_mean(key, rules)
        if key in _STRATEGY_RULES:
            hint = _(" (a [strategy] key the daemon applies to every pair)")
        raise ConfigError(origin, f"{where}.{key}", _("unknown key") + hint)
    table[key] = (value, origin)


def _pair_key(pairs: list[_Table], i: int) -> str:
    """How errors name pair `i`: `pair` alone in a `[pair]` file, else by its Aster symbol
    (or its place among the `[[pair]]` tables while that symbol is unreadable)."""
    return _pair_name(pairs[i].get("aster_symbol", (None, ""))[0] if pairs else None, i, len(pairs))


def _pair_name(symbol: object, i: int, count: int) -> str:
    if count <= 1:
        return "pair"
    if isinstance(symbol, str) and re.fullmatch(r"[A-Z0-9]{2,24}", symbol):
        return f"pair[{symbol}]"
    return f"pair[{i + 1}]"


def _build_pair(pairs: list[_Table], i: int, strategy: StrategyConfig) -> PairConfig:
    """Pair `i` with its own strategy: [strategy] with the pair's overrides applied, checked
    again as a whole (a pair's stop_loss may pass the daemon's take_profit: the pair is
    blamed, the daemon's [strategy] having passed on its own)."""
    table = pairs[i] if pairs else {}
    where = _pair_key(pairs, i)
    rules = _SCHEMA["pair"][1]
    values: dict[str, Any] = {}
    for key, (value, origin) in table.items():
        try:
            values[key] = rules[key](value)
        except _Invalid as e:
            raise ConfigError(origin, f"{where}.{key}", str(e)) from None
    own = {k: v for k, v in values.items() if k in PAIR_STRATEGY_KEYS}
    symbols = {k: v for k, v in values.items() if k not in own}
    pair = PairConfig(**symbols, strategy=replace(strategy, **own))
    checks = (*_STRATEGY_CHECKS, ("backpack_symbol", lambda _s: _same_base_asset(pair)))
    for key, check in checks:
        if problem := check(pair.strategy):
            origin = table[key][1] if key in table else _source_of(table)
            raise ConfigError(origin, f"{where}.{key}", problem)
    return pair


def _source_of(table: _Table) -> str:
    return next((origin for _value, origin in table.values()), DEFAULTS_SOURCE)


def _distinct_symbols(pairs: list[_Table], built: tuple[PairConfig, ...]) -> None:
    """Two pairs on one symbol would share its one net position on the venue: refused."""
    seen: dict[str, int] = {}
    for i, pair in enumerate(built):
        for key, symbol in (
            ("aster_symbol", pair.aster_symbol),
            ("backpack_symbol", pair.backpack_symbol),
        ):
            if symbol in seen:
                message = _("{symbol} is already traded by {other}").format(
                    symbol=symbol, other=_pair_key(pairs, seen[symbol])
                )
                raise ConfigError(_source_of(pairs[i]), f"{_pair_key(pairs, i)}.{key}", message)
            seen[symbol] = i


def defaults() -> Config:
    """The embedded defaults (no file needed); the state directory follows the environment."""
    return load(None)
