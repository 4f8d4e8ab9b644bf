"""The back-test panel of the Budget review page: a budget file evaluated against the newest
stored runs by `castiel check --runs last:N` (a child process, as runs are: the dashboard never
evaluates budgets itself), its table read back typed from the JSON the command wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from budgets.backtest import Backtest
from budgets.units import format_quantity
from collectors.locator import STORE_ENV, StoreLocator
from dashboard.launcher import last_message

TIMEOUT = 600.0


def run_backtest(
    store: StoreLocator, budgets: str, last: int, branch: str | None
) -> tuple[Backtest | None, str]:
    """(the back-test, "") or (None, Castiel's own error message)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "backtest.json"
        log = Path(tmp) / "backtest.log"
        argv = [sys.executable, "-m", "castiel", "check", "--budgets", budgets]
        argv += ["--runs", f"last:{last}", "--json", str(out)]
        argv += ["--branch", branch] if branch else []
        # The store goes in the environment, not the argv: a URL's password would show in `ps`.
        env = {**os.environ, STORE_ENV: store.secret_text()}
        with log.open("wb") as fh:
            try:
                code = subprocess.run(
                    argv,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=TIMEOUT,
                    check=False,
                    env=env,
                ).returncode
            except subprocess.TimeoutExpired:
                return None, f"the back-test took longer than {TIMEOUT:g} s"
        if code != 0 or not out.exists():
            return None, last_message(log) or f"castiel check exited with code {code}"
        return Backtest.from_json(json.loads(out.read_text(encoding="utf-8"))), ""


def table(result: Backtest) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "budget": r.budget,
                "runs": r.runs,
                "would fail": r.failed,
                "would warn": r.warned,
                "pass": r.passed,
                "no data": r.missing,
                "worst": format_quantity(r.worst, r.unit),
                "failed runs": ", ".join(r.failed_runs),
            }
            for r in result.rows
        ],
        columns=[
            "budget",
            "runs",
            "would fail",
            "would warn",
            "pass",
            "no data",
            "worst",
            "failed runs",
        ],
    )


def show(store: StoreLocator) -> None:
    st.subheader("Back-test a budget file")
    st.caption(
        "How a new or changed budget file would have judged the newest stored runs: tighten a "
        "budget here, not by discovering its flakiness in CI. Nothing is recorded."
    )
    with st.form("backtest"):
        budgets = st.text_input("budget file", "examples/budgets.yaml", key="backtest_file")
        c1, c2 = st.columns(2)
        last = c1.number_input("runs", 1, 500, 30, key="backtest_runs")
        branch = c2.text_input("branch (empty: every branch)", "", key="backtest_branch")
        go = st.form_submit_button("Back-test")
    if go:
        with st.spinner("castiel check --runs ..."):
            result, error = run_backtest(store, budgets, int(last), branch.strip() or None)
        if result is None:
            st.error(f"Back-test failed: {error}")
        else:
            st.session_state["backtest_result"] = result
    result = st.session_state.get("backtest_result")
    if isinstance(result, Backtest):
        st.caption(f"{result.budgets_file} against {len(result.runs)} runs")
        st.dataframe(table(result), hide_index=True, width="stretch")
