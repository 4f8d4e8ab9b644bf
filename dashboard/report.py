"""A run's HTML report rebuilt from the verdicts the store keeps (their JSON payloads), for
runs whose report file is not beside the store (e.g. a `castiel monitor` deployment run)."""

from __future__ import annotations

from collections.abc import Sequence

from budgets.reports.html import render_html
from budgets.reports.report import build_report
from budgets.verdict_json import verdict_from_record
from collectors.model import RunInfo
from collectors.store import VerdictRecord


def render(run: RunInfo, records: Sequence[VerdictRecord], now: float) -> str:
    verdicts = [verdict_from_record(r) for r in records]
    return render_html(build_report(run, "(from the store)", verdicts, now))
