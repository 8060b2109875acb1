"""Progress of a job printed by a management command, as lines a person can follow."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class ProgressLines:
    """A progress callback that writes `  42.0% message` lines.

    A line is written whenever the fraction crosses the next `step`, and for a new message once
    `interval` seconds have passed since the last line: long runs stay audible (a training epoch
    says its loss), thousands of items do not flood the terminal.
    """

    def __init__(
        self,
        write: Callable[[str], Any],
        *,
        step: float = 0.05,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.step = step
        self.interval = interval
        self.clock = clock
        self.last_step = -1
        self.last_message: str | None = None
        self.last_time = float("-inf")

    def __call__(self, fraction: float, message: str = "", *_: Any, **__: Any) -> None:
        step = int(max(0.0, min(1.0, float(fraction))) / self.step)
        now = self.clock()
        fresh = message != self.last_message and now - self.last_time >= self.interval
        if step != self.last_step or fresh:
            self.write(f"{float(fraction):6.1%} {message}")
            self.last_step, self.last_message, self.last_time = step, message, now
