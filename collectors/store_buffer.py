"""A run's writes to a store that may go away for a while (a PostgreSQL server restarting, a
network blip): nothing collected is lost, within a bound.

`RunWriter` writes each batch in order. When the store is unavailable (`StoreUnavailable`)
it keeps the batch, and everything after it, in memory and tries again on the next call;
once the store answers, the backlog is written in order. If the store stays away longer than
`max_outage` seconds, the next call raises `StoreUnavailable`, saying how much was not
written: the run fails loudly (exit 3) instead of going on without its data.

A batch whose commit was in flight when the connection dropped may or may not be stored;
before writing such a batch again the writer asks the store (`Store.holds`), so a batch is
stored once. Live verdicts are a snapshot replaced every tick: only the newest waits."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collectors.model import Batch
from collectors.store import Store, StoreUnavailable, VerdictRecord

DEFAULT_MAX_OUTAGE = 120.0


@dataclass(frozen=True)
class _Phase:
    name: str
    at: float


@dataclass(frozen=True)
class _Finish:
    ended_at: float
    status: str


class RunWriter:
    def __init__(
        self,
        store: Store,
        run_id: str,
        max_outage: float = DEFAULT_MAX_OUTAGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.max_outage = max_outage
        self._clock = clock
        self._pending: deque[Batch | _Phase | _Finish] = deque()
        self._live: tuple[list[VerdictRecord], str] | None = None
        self._unsure = False  # the head of _pending failed once: it may be stored already
        self.outage_since: float | None = None
        self.last_error: str | None = None

    @property
    def backlog(self) -> int:
        """Batches and phases waiting for the store."""
        return len(self._pending)

    def write(self, batch: Batch) -> None:
        if len(batch):
            self._pending.append(batch)
        self.flush()

    def set_phase(self, phase: str, at: float) -> None:
        self._pending.append(_Phase(phase, at))
        self.flush()

    def finish(self, ended_at: float, status: str) -> None:
        """Close the run after everything before it is written (then `drain`)."""
        self._pending.append(_Finish(ended_at, status))
        self.flush()

    def record_live_verdicts(self, records: Sequence[VerdictRecord], source: str = "live") -> None:
        self._live = (list(records), source)
        self.flush()

    def flush(self) -> bool:
        """Write what waits; True when nothing is left. Raises StoreUnavailable once the
        store has been away for longer than `max_outage`."""
        try:
            while self._pending:
                self._write_one(self._pending[0])
                self._pending.popleft()
                self._unsure = False
            if self._live is not None:
                records, source = self._live
                self.store.record_verdicts(self.run_id, records, source=source)
                self._live = None
        except StoreUnavailable as exc:
            self._unsure = bool(self._pending)
            now = self._clock()
            if self.outage_since is None:
                self.outage_since = now
            self.last_error = str(exc)
            if now - self.outage_since > self.max_outage:
                raise StoreUnavailable(
                    f"{exc}; gave up after {now - self.outage_since:.0f}s, with "
                    f"{self.backlog} batch(es) of run {self.run_id} not written"
                ) from exc
            return False
        self.outage_since = None
        self.last_error = None
        return True

    def drain(self, sleep: Callable[[float], None] = time.sleep, every: float = 1.0) -> None:
        """At the end of a run: keep trying until everything is written, or raise
        StoreUnavailable when the outage outlasts `max_outage`."""
        while not self.flush():
            sleep(every)

    def _write_one(self, item: Batch | _Phase | _Finish) -> None:
        if isinstance(item, _Phase):
            self.store.set_phase(self.run_id, item.name, item.at)  # first report wins anyway
        elif isinstance(item, _Finish):
            self.store.finish_run(self.run_id, item.ended_at, item.status)
        elif not (self._unsure and self.store.holds(self.run_id, item)):
            self.store.write(self.run_id, item)
