"""Progress display for long waits: a bar where one can be redrawn, plain lines elsewhere.

On a terminal or in a notebook a tqdm bar shows ``done/total <verb>``, the caller's elapsed time
and details; it shows no rate, since counts that jump when a poll returns make rates absurd. Off
a terminal (a log file, CI) each update that changes something prints one plain line, and lines
for the same state are never repeated.

>>> import io
>>> out = io.StringIO()
>>> with Progress("birds", verb="labeled", stream=out) as bar:
...     bar.update(10, total=1000, elapsed=75, detail="InProgress")
...     bar.update(10, total=1000, elapsed=140, detail="InProgress")
...     bar.update(1000, total=1000, elapsed=3600, detail="Completed")
>>> print(out.getvalue(), end="")
birds: 10/1000 labeled, 1m15s elapsed, InProgress
birds: 1000/1000 labeled, 1h00m elapsed, Completed
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "format_elapsed"]


def format_elapsed(seconds: float) -> str:
    """Seconds as ``42s``, ``3m05s`` or ``2h07m``.

    >>> format_elapsed(42), format_elapsed(185), format_elapsed(7620)
    ('42s', '3m05s', '2h07m')
    """
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


class Progress:
    """One progress display; use as a context manager, call :meth:`update` per change.

    ``stream`` (default stderr) decides the form: a bar if it is a terminal (or in a notebook),
    else plain lines. Off a terminal, ``min_step`` (a fraction of the total) leaves out lines for
    smaller advances with nothing else changed, so checking 100,000 objects logs a few lines.
    """

    def __init__(
        self,
        label: str,
        *,
        verb: str = "done",
        total: int | None = None,
        stream: TextIO | None = None,
        min_step: float = 0.0,
    ) -> None:
        self.label = label
        self.verb = verb
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.min_step = min_step
        self._bar: Any = None
        self._last: tuple[int, int | None, str] | None = None
        self._use_bar = _in_notebook() or _isatty(self.stream)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def update(
        self,
        done: int,
        *,
        total: int | None = None,
        elapsed: float | None = None,
        detail: str = "",
    ) -> None:
        """Show ``done`` of ``total`` (objects), ``elapsed`` seconds and a short ``detail``."""
        if total is not None:
            self.total = total
        tail = ", ".join(
            part
            for part in (
                f"{format_elapsed(elapsed)} elapsed" if elapsed is not None else "",
                detail,
            )
            if part
        )
        if self._use_bar:
            self._draw_bar(done, tail)
            return
        state = (done, self.total, detail)
        if state == self._last:
            return
        if (
            self._last is not None
            and self.total
            and detail == self._last[2]
            and done != self.total
            and done - self._last[0] < self.min_step * self.total
        ):
            return
        self._last = state
        count = f"{done}/{self.total}" if self.total else f"{done}"
        line = f"{self.label}: {count} {self.verb}" + (f", {tail}" if tail else "")
        print(line, file=self.stream, flush=True)

    def _draw_bar(self, done: int, tail: str) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total,
                desc=self.label,
                file=self.stream,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                + self.verb
                + "{postfix}",
                dynamic_ncols=True,
            )
        if self.total is not None and self._bar.total != self.total:
            self._bar.total = self.total
        self._bar.n = done
        self._bar.postfix = tail or None  # tqdm puts ", " before it
        self._bar.refresh()

    def close(self) -> None:
        """End the display (the bar's last state stays on screen)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
