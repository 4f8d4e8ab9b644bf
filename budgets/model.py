"""The budget spec as typed data: what `budgets.spec` produces from YAML and the evaluator reads."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from budgets.aggregations import Aggregation
from budgets.selectors import Selector
from runtime.durations import format_duration


class Level(Enum):
    """Verdict severity, ordered. `ABORT` is for live runs: the monitor stops the load test."""

    PASS = 0
    WARN = 1
    FAIL = 2
    ABORT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown level {text!r} (pass, warn, fail, abort)") from None

    def __lt__(self, other: Level) -> bool:
        return self.value < other.value

    def __le__(self, other: Level) -> bool:
        return self.value <= other.value

    def __gt__(self, other: Level) -> bool:
        return self.value > other.value

    def __ge__(self, other: Level) -> bool:
        return self.value >= other.value


THRESHOLD_LEVELS = (Level.WARN, Level.FAIL, Level.ABORT)


class Op(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    """k6's `==` and `===` (numbers only, so the two are the same)."""
    NE = "!="


@dataclass(frozen=True)
class Condition:
    """What must hold for a level *not* to be reached, k6 style: `fail: "< 0.3"` means the
    budget fails unless the observed value is below 0.3."""

    op: Op
    value: float

    def holds(self, observed: float) -> bool:
        match self.op:
            case Op.LT:
                return observed < self.value
            case Op.LE:
                return observed <= self.value
            case Op.GT:
                return observed > self.value
            case Op.GE:
                return observed >= self.value
            case Op.EQ:
                return observed == self.value
            case Op.NE:
                return observed != self.value

    @property
    def direction(self) -> bool | None:
        """True when higher values are worse (a ceiling), False for a floor, None for `==`
        and `!=` (no side is worse)."""
        if self.op in (Op.LT, Op.LE):
            return True
        if self.op in (Op.GT, Op.GE):
            return False
        return None

    @property
    def higher_is_worse(self) -> bool:
        return self.direction is not False

    def __str__(self) -> str:
        return f"{self.op.value} {self.value:g}"


@dataclass(frozen=True)
class Scope:
    """`window=None, sustained=None`: the whole run. `window`: the worst sliding window of that
    length. `sustained`: a level is reached only when it holds for that long without a break
    (per-interval values, or per sliding window when `window` is set too)."""

    window: float | None = None
    sustained: float | None = None

    @property
    def kind(self) -> str:
        if self.sustained is not None:
            return "sustained"
        if self.window is not None:
            return "window"
        return "run"

    def __str__(self) -> str:
        parts = []
        if self.window is not None:
            parts.append(f"window {format_duration(self.window)}")
        if self.sustained is not None:
            parts.append(f"for {format_duration(self.sustained)}")
        return ", ".join(parts) or "whole run"


class MissingPolicy(StrEnum):
    """What a budget says when it has no (or not enough) data. There is no silent default:
    `pass` must be written out, and the verdict still says the data was missing."""

    FAIL = "fail"
    WARN = "warn"
    PASS = "pass"  # noqa: S105

    @property
    def level(self) -> Level:
        return Level.parse(self.value)


class BaselineRef(StrEnum):
    LAST_PASSING = "last_passing"
    NAMED = "named"


@dataclass(frozen=True)
class BaselineSpec:
    """Compare with an earlier run (budgets/baseline.py): a regression is declared only when
    the confidence interval of the per-chunk shift lies beyond `max_increase` (relative to
    the baseline) and the comparison survives the run's false-discovery control at `fdr`.
    Otherwise PASS, or INCONCLUSIVE (noise, too little data, no baseline)."""

    ref: BaselineRef = BaselineRef.LAST_PASSING
    name: str | None = None
    max_increase: float = 0.10
    """The minimum effect: how much worse (relative) is still no regression."""
    alpha: float = 0.05
    """One-sided level of each test; the interval reported is (1 - 2 alpha)."""
    fdr: float = 0.05
    """False discovery rate of the run's comparisons, corrected together."""
    chunk: float | None = None
    """Seconds per chunk; None: the evaluated span / 20, between 1 s and 10 s."""
    min_chunks: int = 5
    on_regression: Level = Level.FAIL
    on_inconclusive: Level = Level.WARN
    higher_is_worse: bool | None = None
    """None: taken from the thresholds (or True when there are none)."""

    def chunk_for(self, span: float) -> float:
        if self.chunk is not None:
            return self.chunk
        return min(10.0, max(1.0, span / 20.0))


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class PromQLKind(StrEnum):
    """What a PromQL expression's values are (the series kind it becomes)."""

    GAUGE = "gauge"
    """A reading at each evaluation (a rate, a ratio, `histogram_quantile`, a depth)."""
    COUNTER = "counter"
    """An increase during the collection interval: the expression uses `$__interval`."""
    HISTOGRAM = "histogram"
    """Per-`le` increases during the interval (`sum by (le) (increase(x_bucket[$__interval]))`)."""


INTERVAL_PLACEHOLDER = "$__interval"


@dataclass(frozen=True)
class PromQLExpr:
    """A budget over a PromQL expression instead of a selector (`promql:` in the file). A
    Prometheus source evaluates it at every collection into the series `series`, which the
    budget's selector names, so the evaluator reads it like any other series."""

    expr: str
    kind: PromQLKind = PromQLKind.GAUGE
    series: str = ""


@dataclass(frozen=True)
class Budget:
    name: str
    selector: Selector
    aggregation: Aggregation
    thresholds: tuple[tuple[Level, Condition], ...] = ()
    scope: Scope = field(default_factory=Scope)
    ramp_up: float = 0.0
    ramp_up_phase: str | None = None
    """Exclude everything before this phase of the run (e.g. `spawning_complete`), then
    `ramp_up` more seconds."""
    group_by: tuple[str, ...] = ()
    min_samples: int = 1
    on_missing: MissingPolicy = MissingPolicy.FAIL
    denominator: tuple[Selector, ...] = ()
    baseline: BaselineSpec | None = None
    description: str = ""
    location: Location | None = None
    promql: PromQLExpr | None = None
    """Set when the budget names a PromQL expression; `selector` then names its series."""
    abort_after: float | None = None
    """A live run is not stopped by this budget's abort level before it has run this many
    seconds (k6's `delayAbortEval`); until then the level counts as fail."""
    run_scenario: str | None = None
    """Only runs of this scenario are judged (k6's `{scenario:...}` tag); other runs get an
    explicit not-applicable pass."""

    @property
    def higher_is_worse(self) -> bool:
        for _, cond in self.thresholds:
            if cond.direction is not None:
                return cond.direction
        if self.baseline is not None and self.baseline.higher_is_worse is not None:
            return self.baseline.higher_is_worse
        return True

    def condition(self, level: Level) -> Condition | None:
        return dict(self.thresholds).get(level)


@dataclass(frozen=True)
class BudgetFile:
    path: str
    budgets: tuple[Budget, ...]
    version: int = 1


_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(ms|us|s|%)?\s*$")


def parse_number(text: str | float) -> float:
    """A threshold value: `0.25`, `250ms` (= 0.25, metrics are in seconds), `1%` (= 0.01)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _NUMBER.match(str(text))
        if m is None:
            raise ValueError(f"not a number: {text!r} (examples: 0.25, 250ms, 1%)")
        value = (
            float(m.group(1)) * {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "%": 0.01}[m.group(2)]
        )
    if not math.isfinite(value):
        raise ValueError(f"threshold must be finite, got {text!r}")
    return value
