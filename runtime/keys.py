"""Redis key names. Every key of one queue carries the hash tag `{name}`, so a queue lives in
one cluster slot and its Lua scripts run unchanged on Redis Cluster."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "castiel"
WORKERS_KEY = f"{PREFIX}:workers"  # zset worker id -> last beat (ms), for discovery


def worker_key(worker_id: str) -> str:
    """The heartbeat of one worker process (JSON, expires when the worker dies)."""
    return f"{PREFIX}:worker:{worker_id}"


def queues_key() -> str:
    """A set of every queue name that has been used, for collectors and the CLI."""
    return f"{PREFIX}:queues"


@dataclass(frozen=True)
class QueueKeys:
    """The fixed set of keys of one queue, in the order the Lua prelude declares them."""

    name: str

    def _k(self, suffix: str) -> str:
        return f"{PREFIX}:{{{self.name}}}:{suffix}"

    @property
    def wait(self) -> str:
        return self._k("wait")

    @property
    def delayed(self) -> str:
        return self._k("delayed")

    @property
    def active(self) -> str:
        return self._k("active")

    @property
    def completed(self) -> str:
        return self._k("completed")

    @property
    def failed(self) -> str:
        return self._k("failed")

    @property
    def jobs(self) -> str:
        return self._k("jobs")

    @property
    def data(self) -> str:
        return self._k("data")

    @property
    def results(self) -> str:
        return self._k("results")

    @property
    def errors(self) -> str:
        return self._k("errors")

    @property
    def locks(self) -> str:
        return self._k("locks")

    @property
    def meta(self) -> str:
        return self._k("meta")

    @property
    def notify(self) -> str:
        return self._k("notify")

    @property
    def events(self) -> str:
        return self._k("events")

    @property
    def completed_per_minute(self) -> str:
        return self._k("stats:completed")

    @property
    def failed_per_minute(self) -> str:
        return self._k("stats:failed")

    @property
    def dedup(self) -> str:
        return self._k("dedup")

    @property
    def dedup_windows(self) -> str:
        return self._k("dedup:windows")

    @property
    def rate_log(self) -> str:
        return self._k("ratelimit")

    @property
    def group_rate_log(self) -> str:
        return self._k("ratelimit:groups")

    @property
    def waiting_children(self) -> str:
        return self._k("waiting-children")

    @property
    def child_results(self) -> str:
        return self._k("child-results")

    @property
    def outbox(self) -> str:
        return self._k("outbox")

    @property
    def parents(self) -> str:
        return self._k("parents")

    @property
    def schedules(self) -> str:
        return self._k("schedules")

    @property
    def schedule_state(self) -> str:
        return self._k("schedules:fired")

    def schedule_keys(self) -> list[str]:
        """KEYS of schedule_fire.lua: the queue's keys, then the schedules' own two."""
        return [*self.script_keys(), self.schedules, self.schedule_state]

    def ready_add_keys(self) -> list[str]:
        """KEYS of add_ready.lua (the lean add), in the order that script declares them."""
        return [self.wait, self.jobs, self.data, self.meta, self.notify, self.events]

    def script_keys(self) -> list[str]:
        """KEYS for every queue script; the order matches runtime/lua/_prelude.lua."""
        return [
            self.wait,
            self.delayed,
            self.active,
            self.completed,
            self.failed,
            self.jobs,
            self.data,
            self.results,
            self.errors,
            self.locks,
            self.meta,
            self.notify,
            self.events,
            self.completed_per_minute,
            self.failed_per_minute,
            self.dedup,
            self.dedup_windows,
            self.rate_log,
            self.group_rate_log,
            self.waiting_children,
            self.child_results,
            self.outbox,
            self.parents,
        ]
