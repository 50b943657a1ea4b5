"""Orders of one batch leave together; an order that is not sent never holds the others; a
Backpack order does not queue behind reads."""

from __future__ import annotations

import asyncio
import time

from hedged.adapters import gate
from hedged.adapters.backpack_http import Pacer


async def leg(prepare: float, log: list[tuple[str, float]], name: str, send: bool = True) -> None:
    try:
        await asyncio.sleep(prepare)  # building and signing the request
        if send:
            await gate.ready_to_send()
            log.append((name, time.monotonic()))
    finally:
        gate.will_not_send()


async def test_the_orders_of_a_batch_leave_when_the_slowest_is_ready() -> None:
    log: list[tuple[str, float]] = []
    started = time.monotonic()
    async with gate.batch(2):
        await asyncio.gather(leg(0.0, log, "fast"), leg(0.05, log, "slow"))
    (first, t1), (second, t2) = log
    assert {first, second} == {"fast", "slow"}
    assert t1 - started >= 0.05  # the fast one waited for the slow one
    assert t2 - t1 < 0.05  # then both left back to back


async def test_an_order_that_is_not_sent_does_not_hold_the_others() -> None:
    log: list[tuple[str, float]] = []
    async with gate.batch(2):
        await asyncio.wait_for(
            asyncio.gather(leg(0.0, log, "sent"), leg(0.01, log, "refused", send=False)), 1.0
        )
    assert [name for name, _ in log] == ["sent"]


async def test_a_single_order_and_code_outside_a_batch_pass_straight_through() -> None:
    async with gate.batch(1) as g:
        assert g is None
        await asyncio.wait_for(gate.ready_to_send(), 0.1)
    await asyncio.wait_for(gate.ready_to_send(), 0.1)


async def test_a_write_takes_a_pacer_slot_without_waiting_behind_reads() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(10, sleep=sleep)  # one request per 100 ms
    assert await pacer.wait()
    assert await pacer.wait()  # a read queues behind the first
    assert len(slept) == 1 and 0.09 < slept[0] <= 0.1
    assert await pacer.wait(write=True)  # the order goes now
    assert len(slept) == 1
    assert await pacer.wait()  # the next read queues behind both
    assert 0.19 < slept[-1] <= 0.2
    pacer.cool_down(1.0)
    assert not await pacer.wait(limit=0.5, write=True)  # a 429 cool-down holds writes too
