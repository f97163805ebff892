"""A job the worker runs in a daemon thread every few seconds (retention purges, chain
checkpoints): once at start, then every ``every_s``, until ``stop()``."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Self


class PeriodicJob(ABC):
    """Subclasses set ``every_s`` and ``thread_name`` and implement ``run_once`` (which must not
    raise: a failed round is logged and the next one tries again)."""

    every_s: float
    thread_name: str = "riskwatch-periodic"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def run_once(self) -> Any:
        """One round of the job."""

    def start(self) -> Self:
        def loop() -> None:
            while not self._stop.is_set():
                self.run_once()
                self._stop.wait(self.every_s)

        self._thread = threading.Thread(target=loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
