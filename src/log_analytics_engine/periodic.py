"""A daemon thread calling one method of an object every so often, until stopped or until the object
is garbage (the thread holds only a weak reference: a forgotten engine does not live on for it)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Periodic(Generic[_T]):
    """Calls `run(target)` every `interval` seconds; `failed(target, exc)` gets what a call raised of
    the exception types `catch` (the next call tries again)."""

    def __init__(
        self,
        target: _T,
        run: Callable[[_T], object],
        interval: float,
        name: str,
        failed: Callable[[_T, Exception], None],
        catch: tuple[type[Exception], ...] = (Exception,),
    ) -> None:
        self._target = weakref.ref(target)
        self._call = run
        self._interval = interval
        self._failed = failed
        self._catch = catch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the calls."""
        self._thread.start()

    def stop(self) -> None:
        """Stop, waiting for a call in progress."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            target = self._target()
            if target is None:
                return
            try:
                self._call(target)
            except self._catch as exc:
                self._failed(target, exc)
            del target
