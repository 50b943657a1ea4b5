"""The pieces of the transport both venue clients share: Retry-After, back-off, the read
retry loop and the JSON field readers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedged.adapters import fields
from hedged.adapters.base import VenueError
from hedged.adapters.errors import TransportError, WireError
from hedged.adapters.http import Backoff, Http, HttpPolicy, Retry, retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("0", 0.0),
        (None, None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("259200", 259200.0),
    ],
)
def test_retry_after_reads_seconds_only(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


async def test_backoff_doubles_up_to_its_ceiling_and_resets() -> None:
    backoff = Backoff(0.001, 0.004)
    pauses = []
    for _ in range(4):
        pauses.append(backoff.pause)
        await backoff.wait()
    assert pauses == [0.001, 0.002, 0.004, 0.004]
    backoff.reset()
    assert backoff.pause == 0.001


async def test_retry_counts_transport_trouble_and_gives_up_naming_the_last() -> None:
    http = Http("venue", "http://127.0.0.1:1", HttpPolicy(read_attempts=3, backoff=0.001))
    calls: list[int] = []

    async def attempt() -> str | Retry:
        calls.append(len(calls))
        if len(calls) == 1:
            raise TransportError("GET /x: reset")
        return Retry("HTTP 503")

    with pytest.raises(VenueError, match=r"venue GET /x: gave up after 3 attempts: HTTP 503"):
        await http.retry("GET /x", attempt)
    assert calls == [0, 1, 2]


async def test_retry_returns_the_first_answer() -> None:
    http = Http("venue", "http://127.0.0.1:1", HttpPolicy(read_attempts=3, backoff=0.001))
    answers: list[str | Retry] = [Retry("HTTP 500", pause=False), "ok", "late"]

    async def attempt() -> str | Retry:
        return answers.pop(0)

    assert await http.retry("GET /x", attempt) == "ok"
    assert answers == ["late"]


def test_field_readers_name_the_field_they_cannot_read() -> None:
    row = {"qty": "1.50", "id": 42, "flag": "true", "none": None, "bad": 1.5, "word": "Bid"}
    assert fields.dec(row, "qty") == Decimal("1.50")
    assert fields.dec(row, "missing", "0") == Decimal(0)
    assert fields.opt_dec(row, "none") is None
    assert fields.ident(row, "id") == "42"
    assert fields.flag(row, "flag") is True
    assert fields.flag(row, "none") is False
    assert fields.lookup({"Bid": "buy"}, row["word"], "side") == "buy"
    for read in (
        lambda: fields.dec(row, "bad"),
        lambda: fields.ident(row, "qty"),
        lambda: fields.text(row, "id"),
        lambda: fields.lookup({"Ask": "sell"}, row["word"], "side"),
    ):
        with pytest.raises(WireError):
            read()
    with pytest.raises(WireError, match="bad: expected a decimal string, got float"):
        fields.dec(row, "bad")
    assert fields.decode(b'{"p": 0.1}') == {"p": Decimal("0.1")}
    with pytest.raises(WireError, match="not JSON"):
        fields.decode("{")
