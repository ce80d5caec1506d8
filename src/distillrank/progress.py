"""One rich progress bar for long counted work (pairs scored, documents embedded), with the rate."""

from __future__ import annotations

import time
from typing import Any, Self

__all__ = ["CountingProgress"]


class CountingProgress:
    """``with CountingProgress(total, show, label="teacher", unit="pairs") as bar: bar.advance(n)``.

    Shows ``label [bar] done/total rate unit/s time-left`` on the terminal, or nothing when ``show`` is
    false or there is nothing to do.
    """

    def __init__(self, total: int, show: bool, *, label: str = "", unit: str = "items") -> None:
        self.total, self.show = total, show and total > 0
        self.label, self.unit = label, unit
        self._progress: Any = None
        self._task: Any = None
        self._start = time.perf_counter()

    def __enter__(self) -> Self:
        if self.show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn(self.label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} " + self.unit + "/s"),
                TimeRemainingColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, rate="-")
        return self

    def advance(self, n: int) -> None:
        if self._progress is not None:
            done = self._progress.tasks[0].completed + n
            rate = done / max(time.perf_counter() - self._start, 1e-9)
            self._progress.update(self._task, advance=n, rate=f"{rate:,.0f}")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
