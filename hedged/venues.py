"""The two venues the daemon trades on: the real Aster and Backpack clients, pointed either at
the venues themselves (live) or at the wire-compatible simulators started in process (paper).
Paper mode runs exactly the code that trades real money, over real HTTP and WebSockets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import make_url

from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.backpack.client import BackpackVenue
from hedged.adapters.backpack.signing import new_keypair
from hedged.adapters.base import CredentialsRefused, SymbolNotListed, Venue, VenueError
from hedged.config import Config, ConfigError, sqlite_file
from hedged.legs import ASTER, BACKPACK
from hedged.secrets import (
    AsterCredentials,
    BackpackCredentials,
    Credentials,
    Secret,
    credential_names,
)
from hedged.sim.accounts import Accounts, AsterAgent, BackpackKey
from hedged.sim.pricepath import CsvPath
from hedged.sim.server import SimServers, WorldSpec, build_world

PAPER_ACCOUNT = "paper"
PAPER_BALANCE = Decimal(10_000)


def clients(cfg: Config, credentials: Credentials) -> dict[str, Venue]:
    return {
        ASTER: AsterVenue(cfg.aster, credentials.aster, cfg.pair.aster_symbol),
        BACKPACK: BackpackVenue(cfg.backpack, credentials.backpack, cfg.pair.backpack_symbol),
    }


@asynccontextmanager
async def closing(venues: dict[str, Venue]) -> AsyncIterator[dict[str, Venue]]:
    """Close every client however start-up ends (close is idempotent): a start that failed
    half-way must not leave an HTTP session open."""
    try:
        yield venues
    finally:
        for venue in venues.values():
            await venue.close()


@asynccontextmanager
async def live_venues(cfg: Config, credentials: Credentials) -> AsyncIterator[dict[str, Venue]]:
    async with closing(clients(cfg, credentials)) as venues:
        yield venues


def start_refusal(cfg: Config, error: VenueError) -> ConfigError | None:
    """The configuration error behind a venue's refusal at start-up, if a restart cannot fix
    it: keys or signatures the venue refuses, a symbol it does not list."""
    if isinstance(error, CredentialsRefused):
        where, names = credential_names(cfg, error.venue)
        return ConfigError(where, names, f"{error.venue} refused our key or signature ({error})")
    if isinstance(error, SymbolNotListed):
        key = f"{error.venue}_symbol"
        symbol = getattr(cfg.pair, key)
        return ConfigError(cfg.source, f"pair.{key}", f"{error.venue} does not list {symbol}")
    return None


def paper_state_file(cfg: Config) -> Path:
    """Where the simulated exchange is kept: beside a SQLite database (its own for each
    database), else in the state directory under the database's name."""
    database = sqlite_file(cfg.store.url)
    if database is not None:
        return database.with_name(database.name + "-paper-venues.json")
    url = make_url(cfg.store.url)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{url.host}-{url.port}-{url.database}")
    return cfg.daemon.state_dir / f"paper-venues-{name}.json"


def _price_path_problem(csv: Path) -> str | None:
    try:
        if not csv.is_file():  # a FIFO would block, a device never end
            return "not a regular file" if csv.exists() else "no such file"
        CsvPath(csv)
    except OSError as e:
        return e.strerror or str(e)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except ValueError as e:
        return str(e)
    return None


@asynccontextmanager
async def paper_venues(cfg: Config) -> AsyncIterator[Mapping[str, Venue]]:
    """Both simulators on free loopback ports, with keys made up for this run; their exchange
    state is kept next to the database so a restarted paper daemon finds its positions."""
    signer_key, signer = new_agent_key()
    _, user = new_agent_key()
    bp_secret, bp_public = new_keypair()
    accounts = Accounts(
        aster_agents={signer.lower(): AsterAgent(user, signer, PAPER_ACCOUNT)},
        backpack={bp_public: BackpackKey(bp_public, PAPER_ACCOUNT)},
        balances={PAPER_ACCOUNT: PAPER_BALANCE},
    )
    p = cfg.paper
    spec = WorldSpec(
        symbols={ASTER: cfg.pair.aster_symbol, BACKPACK: cfg.pair.backpack_symbol},
        seed=p.seed,
        start_price=p.start_price,
        volatility=p.volatility,
        basis_bps=p.basis_bps,
        spread_bps=p.spread_bps,
        price_csv=p.price_csv,
        funding=True,  # as the venues do: Backpack hourly, Aster every 8 h
        funding_hours=p.funding_hours or None,
        fees={
            ASTER: (cfg.aster.taker_fee, cfg.aster.maker_fee),
            BACKPACK: (cfg.backpack.taker_fee, cfg.backpack.maker_fee),
        },
    )
    if p.price_csv is not None and (problem := _price_path_problem(p.price_csv)):
        raise ConfigError(cfg.source, "paper.price_csv", problem)
    state_file = paper_state_file(cfg)
    legacy = cfg.daemon.state_dir / "paper-venues.json"  # where earlier versions kept it
    if legacy.exists() and not state_file.exists() and state_file.parent == legacy.parent:
        legacy.rename(state_file)
    servers = SimServers(
        build_world(spec, accounts, state_file),
        accounts,
        tick_seconds=float(p.tick_seconds),
        state_file=state_file,
    )
    await servers.start()
    try:
        paper_cfg = replace(
            cfg,
            aster=replace(
                cfg.aster, base_url=servers.url(ASTER), ws_url=servers.url(ASTER, "ws"), auth="v3"
            ),
            backpack=replace(
                cfg.backpack, base_url=servers.url(BACKPACK), ws_url=servers.url(BACKPACK, "ws")
            ),
        )
        credentials = Credentials(
            AsterCredentials(
                user=user,
                signer=signer,
                signer_key=Secret(signer_key),
                api_key=None,
                api_secret=None,
            ),
            BackpackCredentials(api_key=Secret(bp_public), api_secret=Secret(bp_secret)),
        )
        async with closing(clients(paper_cfg, credentials)) as venues:
            yield venues
    finally:
        await servers.stop()
