"""The collector interface: a new metrics source is one small class.

A collector is anything with a `name` and a `collect(now) -> Batch` method:

    class QueueDepth:
        name = "queue-depth"

        def __init__(self, queue: Queue) -> None:
            self.queue = queue

        def collect(self, now: float) -> Batch:
            batch = Batch()
            for state, n in self.queue.counts().as_dict().items():
                key = SeriesKey.of("castiel_queue_jobs", {"queue": self.queue.name, "state": state})
                batch.add_gauge(key, now, n)
            return batch

Contract (what the monitor loop relies on):

* `collect(now)` is called once per interval with the same `now` for every collector, and every
  sample it returns carries `now` as its timestamp (histograms: `(previous now, now]`), so series
  from different sources line up on the same instants.
* Counters are reported as increments since the previous call (`Batch.add_increment`);
  `CumulativeCounter` and `cumulative_delta` in `collectors.model` do the bookkeeping, including
  process restarts. The first call may return no increments.
* Histograms are per-interval (`Batch.add_histogram`), never cumulative.
* A source that is briefly unreachable raises `CollectorError`; the loop records the failure and
  carries on with the other collectors. Anything else is a bug and propagates.
* Collectors keep their own state (previous readings) and hold injected clients: no globals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from collectors.model import Batch
from runtime.errors import RunBroken


class CollectorError(RunBroken):
    """The source could not be read this time (unreachable, timed out, malformed response)."""


@runtime_checkable
class Collector(Protocol):
    name: str

    def collect(self, now: float) -> Batch:
        """Samples for the interval ending at `now` (seconds since the epoch)."""
        ...


@dataclass
class CollectResult:
    """One round over several collectors: what they returned, and who failed and why."""

    batch: Batch = field(default_factory=Batch)
    errors: dict[str, str] = field(default_factory=dict)


def collect_all(collectors: Iterable[Collector], now: float) -> CollectResult:
    """Run every collector for `now`; a `CollectorError` in one does not lose the others."""
    result = CollectResult()
    for collector in collectors:
        try:
            result.batch.extend(collector.collect(now))
        except CollectorError as exc:
            result.errors[collector.name] = str(exc) or type(exc).__name__
    return result
