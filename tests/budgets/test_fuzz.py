"""Property: whatever a budget file contains, `castiel budgets validate` and `castiel check`
answer with exit code 2 and a message for bad ones — never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgets.spec import BudgetSpecError, parse_budgets
from castiel.cli import main

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "budgets.yaml").read_text()
KEYS = [
    "name",
    "metric",
    "aggregation",
    "warn",
    "fail",
    "abort",
    "threshold",
    "scope",
    "window",
    "for",
    "group_by",
    "min_samples",
    "on_missing",
    "ramp_up",
    "baseline",
    "denominator",
    "labels",
    "budgets",
    "defaults",
    "version",
    "thresholds",
    "max_regression",
    "against",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["p95", "p(99)<1", "< 0.3", "> 2", "5m", "ratio", "fail", "~(", "{a=}"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)


def mutate(text: str, data: st.DataObject) -> str:
    """Delete, duplicate or replace a few slices of a valid file."""
    for _ in range(data.draw(st.integers(1, 4))):
        if not text:
            break
        i = data.draw(st.integers(0, len(text) - 1))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        action = data.draw(st.sampled_from(["delete", "dup", "replace"]))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "dup":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + data.draw(st.text(max_size=6)) + text[j:]
    return text


def check_cli(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        parse_budgets(text, str(path))
    except BudgetSpecError:
        valid = False
    else:
        valid = True
    capsys.readouterr()
    code = main(["budgets", "validate", str(path)])
    out = capsys.readouterr()
    if valid:
        assert code == 0
        return
    assert code == 2
    assert out.err.strip(), "a message on stderr"
    assert "Traceback" not in out.err
    assert out.err.startswith(str(path)), out.err
    # check: the budgets are read before the store, so bad budgets are exit 2 with one line
    code = main(["check", "--budgets", str(path), "--store", str(tmp_path / "none.db")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("castiel: ")


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(doc=documents)
def test_random_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object) -> None:
    check_cli(tmp_path, yaml.safe_dump(doc, allow_unicode=True), capsys)


@FUZZ
@given(data=st.data())
def test_mutated_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    check_cli(tmp_path, mutate(EXAMPLE, data), capsys)


@FUZZ
@given(text=st.text(max_size=200))
def test_arbitrary_text(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    check_cli(tmp_path, text, capsys)


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]",  # recursive alias
        "x: " + "[" * 5000 + "]" * 5000,  # deep nesting
        "budgets:\n  - !!python/object:os.system {}\n",  # unsafe tag
        "\x00\x01",
        "budgets: [{name: a, metric: m, aggregation: p95, fail: '<1e999'}]",
    ],
)
def test_nasty_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    check_cli(tmp_path, text, capsys)


def test_undecodable_file_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_bytes(b"budgets:\n  - name: \xff\xfe\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "castiel", "budgets", "validate", str(path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr and "Traceback" not in proc.stderr
