"""Rich progress bars for the training runs in flight (terminal only).

    with RunProgress() as bars:
        bars.add("N8.7e4", step_dir / "run" / "metrics.jsonl", total_tokens=3.5e6)
        ...                                   # a background thread follows the metrics files

Each bar follows the ``tokens`` column of a run's ``metrics.jsonl`` (written by the trainer),
polled once a second. Off the terminal (logs, tests) nothing is drawn.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def last_tokens(path: Path) -> float:
    """The newest ``tokens`` value in a metrics file (0 when none yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0.0
    for line in reversed(lines):
        try:
            return float(json.loads(line).get("tokens", 0.0))
        except ValueError:
            continue
    return 0.0


class RunProgress:
    def __init__(self, enabled: bool | None = None, interval: float = 1.0):
        console = Console()
        self.enabled = console.is_terminal if enabled is None else enabled
        self.interval = interval
        self.bars: dict[int, tuple[Path, float]] = {}
        self._stop = threading.Event()
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                  console=console, transient=False)

    def __enter__(self) -> RunProgress:  # noqa: PYI034
        if self.enabled:
            self._progress.start()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self._refresh()
            self._progress.stop()

    def add(self, name: str, metrics: Path, total_tokens: float) -> None:
        if self.enabled:
            task = self._progress.add_task(f"train {name}", total=total_tokens)
            self.bars[task] = (Path(metrics), total_tokens)

    def _refresh(self) -> None:
        for task, (path, total) in list(self.bars.items()):
            self._progress.update(task, completed=min(last_tokens(path), total))

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._refresh()
