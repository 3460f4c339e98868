"""The time waiting code sleeps on: the real clock, or a simulated one while an emulator runs.

:func:`sleep` and :func:`monotonic` are the defaults of :class:`gtkit.LabelingJobClient`.
Inside :func:`simulated` (which :func:`gtkit.emulator.emulate` enters), sleeping returns at
once and moves a simulated clock on by the time asked for, so that waiting on an emulated job
takes no real time while timeouts and elapsed times still add up.

>>> with simulated():
...     start = monotonic()
...     sleep(3600.0)
...     monotonic() - start
3600.0
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["monotonic", "simulated", "sleep"]

_simulated: list[float] = []  # the simulated clocks entered (seconds), innermost last


def sleep(seconds: float) -> None:
    """Sleep ``seconds``: for real, or on the simulated clock (returning at once)."""
    if _simulated:
        _simulated[-1] += max(0.0, seconds)
    else:
        time.sleep(seconds)


def monotonic() -> float:
    """Seconds of the real monotonic clock, or of the simulated one."""
    return _simulated[-1] if _simulated else time.monotonic()


@contextmanager
def simulated() -> Iterator[None]:
    """Within the block, :func:`sleep` takes no real time and :func:`monotonic` is simulated."""
    _simulated.append(0.0)
    try:
        yield
    finally:
        _simulated.pop()
