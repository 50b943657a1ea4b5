"""The two venues the daemon trades on: the real Aster and Backpack clients, pointed either at
the venues themselves (live) or at the wire-compatible simulators started in process (paper).
Paper mode runs exactly the code that trades real money, over real HTTP and WebSockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal

from hedged.adapters.aster import AsterVenue
from hedged.adapters.aster_signing import new_agent_key
from hedged.adapters.backpack import BackpackVenue
from hedged.adapters.backpack_signing import new_keypair
from hedged.adapters.base import Venue
from hedged.config import Config
from hedged.legs import ASTER, BACKPACK
from hedged.secrets import AsterCredentials, BackpackCredentials, Credentials, Secret
from hedged.sim.server import SimServers, WorldSpec, build_world
from hedged.sim.wire import Accounts, AsterAgent, BackpackKey

PAPER_ACCOUNT = "paper"
PAPER_BALANCE = Decimal(10_000)


def clients(cfg: Config, credentials: Credentials) -> dict[str, Venue]:
    return {
        ASTER: AsterVenue(cfg.aster, credentials.aster, cfg.pair.aster_symbol),
        BACKPACK: BackpackVenue(cfg.backpack, credentials.backpack, cfg.pair.backpack_symbol),
    }


@asynccontextmanager
async def live_venues(cfg: Config, credentials: Credentials) -> AsyncIterator[dict[str, Venue]]:
    yield clients(cfg, credentials)


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
        fees={
            ASTER: (cfg.aster.taker_fee, cfg.aster.maker_fee),
            BACKPACK: (cfg.backpack.taker_fee, cfg.backpack.maker_fee),
        },
    )
    state_file = cfg.daemon.state_dir / "paper-venues.json"
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
        yield clients(paper_cfg, credentials)
    finally:
        await servers.stop()
