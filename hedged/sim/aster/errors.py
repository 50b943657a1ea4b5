"""Aster's error replies: `{"code": <negative int>, "msg": ...}` with the venue's codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from hedged.sim.records import OrderRefused, RejectCode

AUTH_STATUS = 401  # Binance's status for key errors (UNCONFIRMED for Aster); the rest use 400


class AsterError(Exception):
    """A definite refusal, answered as `status` with Aster's error body."""

    def __init__(
        self, code: int, msg: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = dict(headers or {})

    @property
    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def mandatory(name: str) -> AsterError:
    return AsterError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def bad_key_format() -> AsterError:
    return AsterError(-2014, "API-key format invalid.", AUTH_STATUS)


def bad_key() -> AsterError:
    return AsterError(-2015, "Invalid API-key, IP, or permissions for action.", AUTH_STATUS)


def bad_signature() -> AsterError:
    return AsterError(-1022, "Signature for this request is not valid.")


def outside_window() -> AsterError:
    return AsterError(-1021, "Timestamp for this request is outside of the recvWindow.")


def ahead_of_server() -> AsterError:
    return AsterError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def nonce_expired() -> AsterError:
    return AsterError(-4225, "Nonce Expired")


def bad_symbol() -> AsterError:
    return AsterError(-1121, "Invalid symbol.")


def no_such_order() -> AsterError:
    return AsterError(-2013, "Order does not exist.")


def unknown_order_sent() -> AsterError:
    return AsterError(-2011, "Unknown order sent.")


def no_listen_key() -> AsterError:
    return AsterError(-1125, "This listenKey does not exist.")


def not_required(name: str) -> AsterError:
    """A parameter the order's other parameters exclude (closePosition with quantity...)."""
    return AsterError(-1106, f"Parameter '{name}' sent when not required.")


def unknown_path(method: str, path: str) -> AsterError:
    return AsterError(-5000, f"Path {path}, Method {method} is invalid", status=404)


def bad_value(name: str) -> AsterError:
    return AsterError(-1130, f"Data sent for parameter '{name}' is not valid.")


def too_many_requests(limit: int, retry_after: int) -> AsterError:
    return AsterError(
        -1003,
        f"Too many requests; current limit is {limit} requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
        429,
        {"Retry-After": str(retry_after)},
    )


def too_many_orders(limit: int, retry_after: int) -> AsterError:
    return AsterError(
        -1015,
        f"Too many new orders; current limit is {limit} orders per MINUTE.",
        429,
        {"Retry-After": str(retry_after)},
    )


def execution_unknown() -> AsterError:
    return AsterError(
        -1007,
        "Timeout waiting for response from backend server. "
        "Send status unknown; execution status unknown.",
        503,
    )


def margin_insufficient() -> AsterError:
    return AsterError(-2019, "Margin is insufficient.")


def reduce_only_rejected() -> AsterError:
    return AsterError(-2022, "ReduceOnly Order is rejected.")


# The core's refusals in Aster's words (docs/venues/aster.md#errors); -2020, -4001, -5022 are
# Binance's.
_REFUSALS: dict[RejectCode, tuple[int, str]] = {
    RejectCode.UNKNOWN_SYMBOL: (-1121, "Invalid symbol."),
    RejectCode.DUPLICATE_CLIENT_ID: (-4116, "ClientOrderId is duplicated."),
    RejectCode.BAD_STEP: (-4023, "Quantity not increased by step size."),
    RejectCode.MIN_QTY: (-4004, "Quantity less than min quantity."),
    RejectCode.MAX_QTY: (-4005, "Quantity greater than max quantity."),
    RejectCode.BAD_PRICE: (-4001, "Price less than 0."),
    RejectCode.BAD_TICK: (-4014, "Price not increased by tick size."),
    RejectCode.NO_BOOK: (-2020, "Unable to fill."),
    RejectCode.MIN_NOTIONAL: (
        -4164,
        "Order's notional must be no smaller than 5.0 (unless you choose reduce only)",
    ),
    RejectCode.POST_ONLY_CROSS: (
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    ),
    RejectCode.WOULD_TRIGGER: (-2021, "Order would immediately trigger."),
    RejectCode.REDUCE_ONLY: (-2022, "ReduceOnly Order is rejected."),
    RejectCode.UNKNOWN_ORDER: (-2011, "Unknown order sent."),
    RejectCode.ORDER_CLOSED: (-2011, "Unknown order sent."),
}


def from_refusal(refused: OrderRefused) -> AsterError:
    code, msg = _REFUSALS[refused.code]
    return AsterError(code, msg)


def min_notional(notional: object) -> AsterError:
    return AsterError(
        -4164,
        f"Order's notional must be no smaller than {notional} (unless you choose reduce only)",
    )
