"""What an export needs besides the budgets: the rolling window that stands in for "the whole
run", the burn-rate policy and error-budget periods (castiel.yaml `oncall:`), and how alerts
are labelled and annotated (from the alerts config, so exported alerts route like Castiel's
own). Plain data, filled in by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from budgets.export.catalogue import Catalogue
from budgets.model import Level

DAY = 86400.0


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window burn-rate condition (Google SRE workbook, chapter "Alerting on SLOs"):
    fire when both the `long` and the `short` window burn the error budget fast enough to
    spend `consumed` of a whole period's budget within `long`. The burn factor follows from
    the budget's period: consumed x period / long (2 % of 30 days in 1 h is 14.4x)."""

    long: float
    short: float
    consumed: float
    level: Level = Level.FAIL
    """FAIL pages (the `fail` severity), WARN opens a ticket (the `warn` severity)."""

    def factor(self, period: float) -> float:
        return self.consumed * period / self.long


DEFAULT_PERIOD = 30 * DAY
DEFAULT_BURN_WINDOWS = (
    BurnWindow(3600.0, 300.0, 0.02, Level.FAIL),
    BurnWindow(6 * 3600.0, 1800.0, 0.05, Level.FAIL),
    BurnWindow(3 * DAY, 6 * 3600.0, 0.10, Level.WARN),
)
DEFAULT_WINDOW = 300.0
DEFAULT_SEVERITY: Mapping[str, str] = {"warn": "warning", "fail": "critical", "abort": "critical"}


@dataclass(frozen=True)
class AlertSettings:
    """Per budget, from the alerts config: Castiel's own pending time and labels."""

    enabled: bool = True
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExportOptions:
    window: float = DEFAULT_WINDOW
    """The trailing window of budgets that judge a whole run: production has no run."""
    burn_windows: tuple[BurnWindow, ...] = DEFAULT_BURN_WINDOWS
    period: float = DEFAULT_PERIOD
    periods: Mapping[str, float] = field(default_factory=dict)
    """Error-budget period per budget name (default `period`)."""
    burn_rate: bool = True
    catalogue: Catalogue = field(default_factory=Catalogue.builtin)
    severity: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    labels: tuple[tuple[str, str], ...] = ()
    """On every alert (the alerts config's `labels:`)."""
    alerting: Mapping[str, AlertSettings] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    """Budget name -> the dashboard page of that budget (annotation `dashboard`)."""
    run: str | None = None
    """The alerts config's `deployment`: Castiel's `run` label of monitor alerts."""
    rules: frozenset[str] = frozenset()
    """Names that are standalone alert rules (label `rule`), not budgets (label `budget`)."""

    def period_of(self, budget: str) -> float:
        return self.periods.get(budget, self.period)

    def settings(self, budget: str) -> AlertSettings:
        return self.alerting.get(budget, AlertSettings())

    def severity_of(self, level: Level) -> str:
        return self.severity.get(level.label, "critical")
