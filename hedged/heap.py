"""Memory the process has freed, handed back to the system.

glibc's allocator keeps what Python and the C libraries free in its heap for reuse rather
than returning it, so a process that runs for weeks shows a resident size that creeps up
with every round it finishes although nothing holds that memory (measured: ~6 KB a round,
all of it returned by `malloc_trim`). Where the C library has `malloc_trim` (glibc), the
daemon calls it after rounds finish; elsewhere this does nothing."""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    return trim


_TRIM = _malloc_trim()


def give_back() -> bool:
    """Return the allocator's free memory to the system; False where it cannot be done."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
