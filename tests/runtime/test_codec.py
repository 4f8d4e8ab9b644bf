"""The job record codec (runtime/job.py: orjson with the stdlib where orjson is not exact)
accepts, refuses and reads back exactly what the stdlib json does."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import PayloadError
from runtime.job import dumps, loads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


def _stdlib(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


@given(json_values)
def test_round_trips_as_the_stdlib_does(value: Any) -> None:
    encoded = dumps(value, "value")
    assert loads(encoded) == _stdlib(value)
    assert loads(encoded.encode()) == _stdlib(value)  # Redis hands back bytes
    assert json.loads(encoded) == _stdlib(value)  # and any JSON reader can read it


@pytest.mark.parametrize(
    "value",
    [
        "Zoë ✓ 日本語 🚀",
        {"é": ["\u2028", "\x00", "\ud7ff"]},
        2**63 - 1,
        2**64,
        -(2**63) - 1,
        2**200,
        {"n": 123456789012345678901234567890},
        [0.1, 1e16, -0.0, 5e-324, 1.7976931348623157e308],
        {1: "int key", "s": None},
    ],
)
def test_edges_round_trip(value: Any) -> None:
    assert loads(dumps(value, "value")) == _stdlib(value)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, {"x": [-math.inf]}, object(), {"s": {1, 2}}, b"bytes"]
)
def test_refuses_what_the_stdlib_refuses(value: Any) -> None:
    with pytest.raises(PayloadError, match="payload is not JSON-serialisable"):
        dumps(value, "payload")


def test_reads_foreign_records_as_the_stdlib_does() -> None:
    assert math.isnan(loads(b'{"x": NaN}')["x"])
    assert loads(b'{"big": 99999999999999999999}') == {"big": 99999999999999999999}
    with pytest.raises(json.JSONDecodeError):
        loads(b"{not json")
