"""The venue simulator (docs/architecture.md#the-simulator): a matching core on a shared price path,
served in process through the Venue port. The wire-compatible HTTP/WebSocket servers, one
package per venue (`aster/`, `backpack/`), build on this core and on the pieces they share
here: faults, middleware, limits, hub, admin, accounts."""

from hedged.sim.exchange import SimExchange
from hedged.sim.faults import FaultKind, Faults
from hedged.sim.pricepath import CsvPath, GbmPath, PricePath, ScriptedPath
from hedged.sim.records import Book, MarketSpec, OrderRefused, RejectCode
from hedged.sim.venue import SimVenue
from hedged.sim.world import World, default_world

__all__ = [
    "Book",
    "CsvPath",
    "FaultKind",
    "Faults",
    "GbmPath",
    "MarketSpec",
    "OrderRefused",
    "PricePath",
    "RejectCode",
    "ScriptedPath",
    "SimExchange",
    "SimVenue",
    "World",
    "default_world",
]
