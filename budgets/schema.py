"""JSON Schema of budget files, for editors (`castiel budgets schema > budgets.schema.json`,
then point the YAML language server at it). The loader in budgets.spec is the authority:
it also checks what a schema cannot (regexes compile, levels agree, names are unique)."""

from __future__ import annotations

from typing import Any

from budgets.aggregations import AGGREGATIONS, schema_pattern

_DURATION = {
    "description": "seconds, or a duration such as 250ms, 30s, 5m, 1h30m",
    "oneOf": [
        {"type": "number", "minimum": 0},
        {
            "type": "string",
            "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)?\s*|(\d+(\.\d+)?(ms|s|m|h|d))+)$",
        },
    ],
}
_CONDITION = {
    "type": "string",
    "description": 'what must hold, e.g. "< 250ms", ">= 0.8", or k6 style "p(95)<250ms"',
    "pattern": r"^\s*([A-Za-z]+(\(\s*[0-9.]+\s*\)|[0-9.]+)?)?\s*(===|==|!=|<=|>=|<|>)\s*\S.*$",
}
_K6_ENTRY = {
    "oneOf": [
        _CONDITION,
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["threshold"],
            "properties": {
                "threshold": _CONDITION,
                "abortOnFail": {"type": "boolean"},
                "delayAbortEval": {"oneOf": [_DURATION, {"type": "null"}]},
            },
        },
    ]
}
_SELECTOR = {
    "type": "string",
    "description": (
        'metric name with optional labels: name{label="v",route=*"/api/*",status=~"5.."}'
    ),
    "minLength": 1,
}
_MATCH = {
    "oneOf": [
        {"type": "string", "description": "exact value"},
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                k: {"type": "string"}
                for k in ("exact", "glob", "regex", "not", "not_glob", "not_regex")
            },
        },
    ]
}
_SCOPE = {
    "oneOf": [
        {"const": "run"},
        {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {"window": _DURATION, "for": _DURATION},
        },
    ]
}


def _aggregation() -> dict[str, Any]:
    """From the registry, read when the schema is built: a new aggregation is valid here too."""
    return {
        "type": "string",
        "description": "how the values become one number: "
        + ", ".join(k.listed_as for k in AGGREGATIONS),
        "pattern": schema_pattern(),
    }


_GROUP_BY = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
    ]
}
_COMMON = {
    "ramp_up": {
        "oneOf": [_DURATION, {"enum": ["spawn", "spawned", "spawning", "spawning_complete"]}]
    },
    "min_samples": {"type": "integer", "minimum": 0},
    "on_missing": {"enum": ["fail", "warn", "pass"]},
    "scope": _SCOPE,
    "group_by": _GROUP_BY,
}
_BASELINE = {
    "oneOf": [
        {"const": True},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "against": {
                    "type": "string",
                    "description": "last_passing (default) or the name of a saved baseline",
                },
                "max_increase": {
                    "type": ["number", "string"],
                    "description": "minimum effect: how much worse than the baseline is still "
                    "no regression, e.g. 10%",
                },
                "max_regression": {
                    "type": ["number", "string"],
                    "description": "the old name of max_increase",
                },
                "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "fdr": {
                    "type": ["number", "string"],
                    "description": "false discovery rate of the run's comparisons, e.g. 5%",
                },
                "chunk": _DURATION,
                "min_chunks": {"type": "integer", "minimum": 2},
                "on_regression": {"enum": ["warn", "fail"]},
                "on_inconclusive": {"enum": ["pass", "warn", "fail"]},
                "worse": {"enum": ["higher", "lower"]},
            },
        },
    ]
}


def budget_file_schema() -> dict[str, Any]:
    """The JSON Schema of a budget file (`castiel budgets schema`)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://castiel.dev/schemas/budgets-1.json",
        "title": "Castiel performance budgets",
        "type": "object",
        "additionalProperties": False,
        "anyOf": [{"required": ["budgets"]}, {"required": ["thresholds"]}],
        "properties": {
            "version": {"const": 1},
            "defaults": {"type": "object", "additionalProperties": False, "properties": _COMMON},
            "budgets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "metric"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "description": {"type": "string"},
                        "metric": _SELECTOR,
                        "labels": {"type": "object", "additionalProperties": _MATCH},
                        "aggregation": _aggregation(),
                        "threshold": _CONDITION,
                        "warn": _CONDITION,
                        "fail": _CONDITION,
                        "abort": _CONDITION,
                        "denominator": {
                            "oneOf": [
                                _SELECTOR,
                                {"type": "array", "items": _SELECTOR, "minItems": 1},
                            ]
                        },
                        "baseline": _BASELINE,
                        "abort_after": {
                            **_DURATION,
                            "description": "a live run is not stopped by this budget's abort "
                            "level before it has run this long (k6's delayAbortEval)",
                        },
                        **_COMMON,
                    },
                },
            },
            "thresholds": {
                "type": "object",
                "description": "k6 form: metric (k6 names such as http_req_duration{name:/x}, or "
                "a Castiel selector) -> expressions like p(95)<500, or k6's object form",
                "additionalProperties": {
                    "oneOf": [
                        _K6_ENTRY,
                        {"type": "array", "items": _K6_ENTRY},
                    ]
                },
            },
        },
    }
