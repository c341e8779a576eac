"""A progress bar on stderr: percent, count, rate and ETA, redrawn in place on a terminal; on anything else
(a log file, ``manage.py serve``'s prefixed output) one line every ~10 %, so logs stay readable."""

from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 28


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO, unit: str = "") -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._next_tenth = 1
        self._last_draw = 0.0

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        fraction = min(self.done / self.total, 1.0)
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.label} {fraction:4.0%} {self.done}/{self.total}{unit}  "
            f"elapsed {_clock(elapsed)}  ETA {_clock(eta) if fraction < 1 else '0:00'}"
        )

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.done + steps, self.total)
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or self.done == self.total:  # redraw at most 10 times a second
                self._last_draw = now
                filled = int(BAR_WIDTH * self.done / self.total)
                bar = "█" * filled + "·" * (BAR_WIDTH - filled)
                self.stream.write(f"\r{bar} {self.line()}\x1b[K")
                self.stream.flush()
        else:
            crossed = False
            while self._next_tenth <= 10 and self.done * 10 >= self._next_tenth * self.total:
                self._next_tenth += 1
                crossed = True
            if crossed and self.done < self.total:  # the last line is finish()'s
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def finish(self, summary: str = "") -> None:
        text = self.line() + (f"  {summary}" if summary else "")
        self.stream.write((f"\r{text}\x1b[K\n") if self._tty else text + "\n")
        self.stream.flush()
