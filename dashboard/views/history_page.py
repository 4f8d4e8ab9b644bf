"""History: each budget across the last runs of one branch and scenario (x: when the run
started, each point labelled with its commit and branch), its thresholds, its verdicts, and
the change points of the series: each names the first run and commit after the change, the
size of the shift with its 95 % interval, and links to compare that run with the one before.
Links: /history?budget=NAME&branch=BRANCH."""

import pandas as pd
import streamlit as st

from budgets.history import describe
from budgets.units import chart_scale, format_quantity
from dashboard import charts, common, data, verdict_frames

st.title("History")
store = common.store()
if store is not None:
    path = common.store_key()
    runs = common.runs(store, path, 500)
    if runs.empty:
        st.info(f"No runs yet. Make one:\n\n`{common.FIRST_RUN}`")
        st.stop()
    c1, c2, c3 = st.columns(3)
    branches = sorted(set(runs["branch"]))
    linked = st.query_params.get("branch")
    newest = runs.iloc[0]
    branch = c1.selectbox(
        "branch",
        branches,
        index=branches.index(linked if linked in branches else newest["branch"]),
        key="history_branch",
    )
    scenarios = sorted(set(runs[runs["branch"] == branch]["scenario"]))
    default = newest["scenario"] if newest["scenario"] in scenarios else scenarios[0]
    scenario = c2.selectbox(
        "scenario", scenarios, index=scenarios.index(default), key="history_scenario"
    )
    last = int(c3.number_input("runs", 2, 500, 50, key="history_last"))
    found = common.histories(store, path, branch or None, scenario, last)
    if not found:
        st.info(
            f"No checked run on branch {branch or '(none)'}, scenario {scenario or '(none)'}: "
            "`castiel check` (or `castiel run`) records the verdicts a history is made of."
        )
        st.stop()
    summary = pd.DataFrame(
        [
            {
                "budget": h.budget,
                "group": ", ".join(f"{k}={v}" for k, v in h.group) or "-",
                "runs": len(h.points),
                "latest": format_quantity(h.points[-1].value, h.unit),
                "status": data.BADGES.get(h.points[-1].verdict.status.label, ""),
                "change points": len(h.changes),
                "last change": describe(h.changes[-1], h.aggregation) if h.changes else "",
            }
            for h in found
        ]
    )
    st.dataframe(summary, hide_index=True, width="stretch", key="history_summary")
    names = list(dict.fromkeys(h.budget for h in found))
    wanted = st.query_params.get("budget")
    budget = st.selectbox(
        "budget",
        names,
        index=names.index(wanted) if wanted in names else 0,
        key="history_budget",
    )
    for h in (h for h in found if h.budget == budget):
        factor, suffix = chart_scale(h.unit)
        st.subheader(f"{h.title} · {h.aggregation}")
        changes = verdict_frames.history_changes(h)
        st.plotly_chart(
            charts.history_chart(
                verdict_frames.history_points(h, factor),
                suffix,
                {lv.label: cond.value * factor for lv, cond in h.thresholds},
                changes,
                h.aggregation,
            ),
            width="stretch",
            key=f"history_chart_{h.title}",
        )
        if changes.empty:
            st.caption(f"No change point in these {len(h.points)} runs.")
        else:
            st.dataframe(
                changes.drop(columns=["t", "text"]),
                hide_index=True,
                width="stretch",
                key=f"history_changes_{h.title}",
                column_config={
                    "p": st.column_config.NumberColumn(format="%.2g"),
                    "compare": st.column_config.LinkColumn(
                        "compare", display_text="with the run before"
                    ),
                },
            )
