"""The threads a worker runs sync `process` calls on.

A thread cannot be interrupted: when a sync job times out, its code keeps running. So the
pool never makes a job wait for a thread: an idle thread takes the next call, and a new one
starts when none is idle. The worker bounds how many jobs run at once, so the pool holds
`concurrency` threads plus one for each abandoned (timed-out) call that is still running,
which the pool counts. The threads are daemons: a process that exits does not wait for a
call that may never end."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class JobThreads(Executor):
    def __init__(self, name: str = "castiel-job") -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._lock = threading.Lock()
        self._abandoned: set[Future[Any]] = set()

    @property
    def size(self) -> int:
        return len(self._threads)

    def abandon(self, future: Future[Any]) -> int:
        """A call whose job gave up on it (a timeout) but which cannot be stopped: counted
        until it ends. Returns how many abandoned calls are still running."""
        with self._lock:
            self._abandoned.add(future)
        future.add_done_callback(self._forget)
        return self.abandoned

    @property
    def abandoned(self) -> int:
        with self._lock:
            return sum(1 for f in self._abandoned if not f.done())

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._abandoned.discard(future)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._closed:
            raise RuntimeError("JobThreads is shut down")
        future: Future[T] = Future()
        self._calls.put((future, fn, args, kwargs))
        if not self._idle.acquire(blocking=False):
            thread = threading.Thread(
                target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return future

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            future, fn, args, kwargs = call
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # handed to the awaiting job, like an executor
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del call, future  # hold no reference to a finished job while idle
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Idle threads end; busy ones end after their call (never waited for unless `wait`)."""
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    call = self._calls.get_nowait()
                except queue.Empty:
                    break
                if call is not None:
                    call[0].cancel()
        for _ in self._threads:
            self._calls.put(None)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()
