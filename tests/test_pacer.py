"""The Backpack client's pacer: reads are spaced; an order does not queue behind them."""

from __future__ import annotations

from hedged.adapters.backpack.http import Pacer


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
