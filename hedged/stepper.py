"""One step task per round, so a round waiting on its venue never delays another round's
stop-loss. A round is never stepped twice at once: asked again while its step runs, it is
stepped once more right after.

A step or job that raises an Exception is logged with its traceback and the others go on
(the engine halts a round whose step fails before it gets here; a job that meets one of the
`expected` exceptions is logged without, as a warning: it runs again on its turn); only a
BaseException that is not an Exception (a simulated crash) ends the loop, as the process's
death would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

StepFn = Callable[[int, bool], Awaitable[None]]


class Stepper:
    def __init__(
        self,
        step: StepFn,
        wake: Callable[[], None],
        expected: tuple[type[Exception], ...] = (),
    ) -> None:
        self._step = step
        self._wake = wake  # tells the loop a step failed, so it raises without waiting
        self._expected = expected  # ends a job with a warning, not a bug's traceback
        self._running: dict[int | str, asyncio.Task[None]] = {}  # by round, or a job's name
        self._again: dict[int, bool] = {}  # due again while stepping → poll flag
        self._failure: BaseException | None = None

    def __len__(self) -> int:
        return len(self._running)

    def spawn(self, name: str, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` beside the steps, with their failure rule, unless one by that name runs."""
        if name in self._running:
            job.close()
            return
        task = asyncio.create_task(job, name=name)
        self._running[name] = task
        task.add_done_callback(lambda t: self._done(name, t))

    def launch(self, round_id: int, poll_due: bool) -> None:
        if round_id in self._running:
            self._again[round_id] = self._again.get(round_id, False) or poll_due
            return
        task = asyncio.create_task(self._run(round_id, poll_due), name=f"round {round_id}")
        self._running[round_id] = task
        task.add_done_callback(lambda t: self._done(round_id, t))

    async def _run(self, round_id: int, poll_due: bool) -> None:
        while True:
            await self._step(round_id, poll_due)
            if round_id not in self._again:
                return
            poll_due = self._again.pop(round_id)

    def _done(self, key: int | str, task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        if isinstance(key, int):
            self._again.pop(key, None)
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        if isinstance(error, self._expected) and isinstance(key, str):
            log.warning("%s stopped (%s); it runs again on its next turn", task.get_name(), error)
            return
        if isinstance(error, Exception):  # a bug in one task must not stop the others
            log.error("%s failed; the loop goes on", task.get_name(), exc_info=error)
            return
        if self._failure is None:
            self._failure = error
            self._wake()

    async def raise_failure(self) -> None:
        """A step that died (a simulated crash) ends the daemon as it would have in a single
        task: the other steps are cancelled, as if the process had died."""
        if self._failure is None:
            return
        failure, self._failure = self._failure, None
        await self.cancel()
        raise failure

    async def settled(self, timeout: float | None = None, jobs: bool = True) -> None:
        """Wait until no step runs (steps launched meanwhile included), nor any job unless
        `jobs` is False; raise a failure."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while (waited := self._waited(jobs)) and self._failure is None:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                break
            await asyncio.wait(waited, timeout=left, return_when=asyncio.FIRST_EXCEPTION)
        await self.raise_failure()

    def _waited(self, jobs: bool) -> list[asyncio.Task[None]]:
        return [t for key, t in self._running.items() if jobs or isinstance(key, int)]

    async def cancel(self) -> None:
        tasks = list(self._running.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
