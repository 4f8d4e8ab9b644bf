"""The JSON report: versioned (`schema_version`), described by `REPORT_SCHEMA` (JSON Schema)."""

from __future__ import annotations

import json
from typing import Any

from budgets.model import Level
from budgets.reports.report import SCHEMA_VERSION, Report


def report_dict(report: Report, with_trace: bool = True) -> dict[str, Any]:
    run = report.run
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": report.generated_at,
        "status": report.headline.lower(),
        "validity": {
            "inconclusive": report.inconclusive,
            "reasons": [
                {
                    "problem": r.problem.value,
                    "observed": r.observed,
                    "limit": r.limit,
                    "detail": str(r),
                }
                for r in report.validity.reasons
            ],
        },
        "budgets_file": report.budgets_file,
        "run": {
            "id": run.id,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "scenario": run.scenario,
            "git_commit": run.git_commit,
            "git_branch": run.git_branch,
            "config_hash": run.config_hash,
            "environment": dict(run.environment),
        },
        "baselines": list(report.baselines),
        "notes": list(report.notes),
        "summary": {lv.label: report.count(lv) for lv in Level},
        "verdicts": [v.to_json(with_trace) for v in report.verdicts],
        "saturation": report.saturation.to_json() if report.saturation else None,
    }


def render_json(report: Report, with_trace: bool = True) -> str:
    return json.dumps(report_dict(report, with_trace), indent=2, allow_nan=False) + "\n"


_NUM = {"type": ["number", "null"]}
_WINDOW = {
    "type": ["object", "null"],
    "required": ["start", "end"],
    "properties": {"start": {"type": "number"}, "end": {"type": "number"}},
}
_LEVEL = {"enum": [lv.label for lv in Level]}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://castiel.dev/schemas/budget-report-1.json",
    "title": "Castiel budget report",
    "type": "object",
    "required": ["schema_version", "status", "run", "verdicts", "summary"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "generated_at": {"type": "number"},
        "status": {"enum": [*(lv.label for lv in Level), "inconclusive"]},
        "validity": {
            "type": "object",
            "required": ["inconclusive", "reasons"],
            "properties": {
                "inconclusive": {"type": "boolean"},
                "reasons": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["problem", "detail"],
                        "properties": {
                            "problem": {"type": "string"},
                            "observed": {"type": "number"},
                            "limit": {"type": "number"},
                            "detail": {"type": "string"},
                        },
                    },
                },
            },
        },
        "budgets_file": {"type": "string"},
        "run": {
            "type": "object",
            "required": ["id", "started_at"],
            "properties": {
                "id": {"type": "string"},
                "started_at": {"type": "number"},
                "ended_at": _NUM,
                "scenario": {"type": "string"},
                "git_commit": {"type": ["string", "null"]},
                "git_branch": {"type": ["string", "null"]},
                "config_hash": {"type": ["string", "null"]},
                "environment": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "baselines": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "saturation": {
            "type": ["object", "null"],
            "required": ["unit", "knee", "steps", "description"],
            "properties": {
                "unit": {"enum": ["iterations/s", "users"]},
                "knee": {
                    "type": ["object", "null"],
                    "required": ["offered", "sustained_offered", "sustained_throughput"],
                },
                "peak_throughput": {"type": "number"},
                "description": {"type": "string"},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["offered", "throughput", "p95", "follow"],
                    },
                },
            },
        },
        "summary": {
            "type": "object",
            "properties": {lv.label: {"type": "integer"} for lv in Level},
        },
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "budget",
                    "group",
                    "status",
                    "aggregation",
                    "observed",
                    "thresholds",
                    "sample_count",
                    "missing",
                ],
                "properties": {
                    "budget": {"type": "string"},
                    "group": {"type": "object", "additionalProperties": {"type": "string"}},
                    "status": _LEVEL,
                    "aggregation": {"type": "string"},
                    "observed": _NUM,
                    "thresholds": {"type": "object", "additionalProperties": {"type": "string"}},
                    "limits": {
                        "type": "object",
                        "description": "per level: the condition that must hold, typed",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["op", "value"],
                            "properties": {
                                "op": {"enum": ["<", "<=", ">", ">=", "==", "!="]},
                                "value": {"type": "number"},
                            },
                        },
                    },
                    "unit": {
                        "enum": ["s", "ratio", "/s", ""],
                        "description": "unit of observed and the limits' values",
                    },
                    "breached": {"type": ["string", "null"]},
                    "sample_count": {"type": "integer"},
                    "scope": {"type": "string"},
                    "window": _WINDOW,
                    "worst": _WINDOW,
                    "missing": {"type": "boolean"},
                    "message": {"type": "string"},
                    "series": {"type": "integer"},
                    "metric": {"type": "string"},
                    "description": {"type": "string"},
                    "baseline": {
                        "type": ["object", "null"],
                        "required": ["outcome", "reason", "baseline"],
                        "properties": {
                            "outcome": {"enum": ["pass", "fail", "inconclusive"]},
                            "reason": {"type": "string"},
                            "baseline": {"type": "string"},
                            "baseline_run": {"type": ["string", "null"]},
                            "baseline_value": _NUM,
                            "current_value": _NUM,
                            "change": _NUM,
                            "effect": _NUM,
                            "ci_low": _NUM,
                            "ci_high": _NUM,
                            "min_effect": {"type": "number"},
                            "p_value": _NUM,
                            "q_value": _NUM,
                            "method": {"enum": ["exact", "permutation", "asymptotic"]},
                            "fdr": {"type": "number"},
                            "family": {"type": "integer"},
                        },
                    },
                    "trace": {
                        "type": "array",
                        "items": {"type": "array", "prefixItems": [{"type": "number"}, _NUM]},
                    },
                },
            },
        },
    },
}
