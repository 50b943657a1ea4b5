"""Backpack's error bodies (`{"code", "message"}`, docs/venues/backpack.md#errors) and the core's
refusals mapped onto them."""

from __future__ import annotations

from aiohttp import web

from hedged.sim.middleware import Answer, VenueAnswers
from hedged.sim.records import OrderRefused, RejectCode

BAD_REQUEST = "INVALID_CLIENT_REQUEST"
INVALID_ORDER = "INVALID_ORDER"
# Hummingbot treats a 503 with this message as "order state unknown".
UNAVAILABLE_MESSAGE = "Unknown error, please check your request or try again later."


class BackpackError(Exception):
    """An error answer; raised by handlers, turned into a response by `errors_middleware`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return web.json_response({"code": self.code, "message": self.message}, status=self.status)


def bad_request(message: str) -> BackpackError:
    return BackpackError(400, BAD_REQUEST, message)


def invalid_order(message: str) -> BackpackError:
    return BackpackError(400, INVALID_ORDER, message)


def not_found() -> BackpackError:
    return BackpackError(404, "RESOURCE_NOT_FOUND", "Not Found")


def invalid_symbol() -> BackpackError:
    return bad_request("Invalid market symbol")


def duplicate_client_id(client_id: int) -> BackpackError:
    return invalid_order(f"Order with client ID already exists: {client_id}")


_REFUSALS: dict[RejectCode, tuple[str, str]] = {
    RejectCode.UNKNOWN_SYMBOL: (BAD_REQUEST, "Invalid market symbol"),
    RejectCode.BAD_STEP: (BAD_REQUEST, "Quantity decimal too long"),
    RejectCode.MIN_QTY: (BAD_REQUEST, "Quantity is below the minimum allowed value"),
    RejectCode.MAX_QTY: (BAD_REQUEST, "Quantity is above the maximum allowed value"),
    RejectCode.BAD_PRICE: (BAD_REQUEST, "Price must be positive"),
    RejectCode.BAD_TICK: (BAD_REQUEST, "Price decimal too long"),
    RejectCode.NO_BOOK: (INVALID_ORDER, "No liquidity for market order"),
    RejectCode.MIN_NOTIONAL: (BAD_REQUEST, "Order value is below the minimum allowed value"),
    RejectCode.POST_ONLY_CROSS: (INVALID_ORDER, "Order would immediately match and take"),
    RejectCode.REDUCE_ONLY: (INVALID_ORDER, "Reduce only order not reduced"),
    RejectCode.WOULD_TRIGGER: (INVALID_ORDER, "Trigger price would trigger immediately"),
}


def refusal_error(refused: OrderRefused, client_id: int | None) -> BackpackError:
    """The answer Backpack gives for what the core refused."""
    if refused.code is RejectCode.DUPLICATE_CLIENT_ID and client_id is not None:
        return duplicate_client_id(client_id)
    if refused.code in (RejectCode.UNKNOWN_ORDER, RejectCode.ORDER_CLOSED):
        return not_found()
    code, message = _REFUSALS.get(refused.code, (INVALID_ORDER, "Invalid order"))
    return BackpackError(400, code, message)


def _rate_limited() -> Answer:
    return 429, {"code": "TOO_MANY_REQUESTS", "message": "Too many requests"}, {}


def _unavailable() -> Answer:
    return 503, {"code": "SERVER_ERROR", "message": UNAVAILABLE_MESSAGE}, {}


def _rejected() -> Answer:
    return 400, {"code": INVALID_ORDER, "message": "Invalid order"}, {}


ANSWERS = VenueAnswers(rate_limited=_rate_limited, unavailable=_unavailable, rejected=_rejected)


def answer_response(answer: Answer) -> web.Response:
    status, body, headers = answer
    return web.json_response(body, status=status, headers=headers)
