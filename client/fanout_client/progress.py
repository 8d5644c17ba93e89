"""Progress on stderr: one bar redrawn in place on a terminal, plain lines for a CI log."""

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
# A terminal is redrawn at most this often; a log gets a line per tenth done.
REDRAW_SECONDS = 0.1


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Progress:
    """``label [#######.......]  45% 12.0 MiB/26.7 MiB  detail`` for ``total`` bytes (or units)."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, *, sizes: bool = True) -> None:
        self.label = label
        self.sizes = sizes
        self.total = total
        self.stream = stream or sys.stderr
        self.on_terminal = self.stream.isatty()
        self._drawn = ""
        self._last_draw = 0.0
        self._last_tenth = -1

    def update(self, done: int, detail: str = "", *, label: str | None = None) -> None:
        if label is not None and label != self.label:
            self.label = label
            self._last_tenth = -1
        percent = 100 * done // self.total if self.total else 100
        line = self._line(done, percent, detail)
        if self.on_terminal:
            now = time.monotonic()
            if now - self._last_draw >= REDRAW_SECONDS or done >= self.total:
                self._last_draw = now
                self.stream.write("\r" + line.ljust(len(self._drawn)))
                self.stream.flush()
                self._drawn = line
        elif percent // 10 != self._last_tenth:
            self._last_tenth = percent // 10
            self.stream.write(line + "\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (a retry, a resume), kept above the bar."""
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.on_terminal and self._drawn:
            self.stream.write(self._drawn)
            self.stream.flush()

    def close(self) -> None:
        if self.on_terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = ""

    def _clear(self) -> None:
        if self.on_terminal and self._drawn:
            self.stream.write("\r" + " " * len(self._drawn) + "\r")

    def _line(self, done: int, percent: int, detail: str) -> str:
        filled = BAR_WIDTH * min(percent, 100) // 100
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        line = f"{self.label} [{bar}] {percent:3d}%"
        if self.sizes:
            line += f" {human_size(done)}/{human_size(self.total)}"
        return line + (f"  {detail}" if detail else "")
