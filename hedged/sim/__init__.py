"""The venue simulator (docs/architecture.md#the-simulator): a matching core on a shared price path,
served in process through the Venue port. Wire-compatible HTTP/WebSocket APIs build on
this core."""

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
