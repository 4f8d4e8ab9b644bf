"""Overview: the latest runs with verdict badges, how many budgets passed over time, and
anything firing now."""

import pandas as pd
import streamlit as st

from budgets.model import Level
from dashboard import charts, common

st.title("Castiel · overview")
store = common.store()
if store is not None:
    path = common.store_key()
    frame = common.runs(store, path)
    if frame.empty:
        st.info(f"No runs yet. Make one:\n\n`{common.FIRST_RUN}`")
    else:
        latest = frame.iloc[0]
        c1, c2, c3 = st.columns(3)
        c1.metric("runs", len(frame))
        c2.metric("latest verdict", latest["verdict"])
        c3.metric("running now", int((frame["status"] == "running").sum()))
        st.subheader("Firing now")
        common.show_firing(store, path)

        history, passing = [], {}
        for run_id in list(frame["run"])[:20]:
            v = common.verdicts(store, path, run_id)
            if v.empty:
                continue
            levels = v["level"].map(lambda value: Level(value).label)
            passing[run_id] = float((v["level"] == Level.PASS.value).mean())
            for status, n in levels.value_counts().items():
                history.append({"run": run_id[-6:], "status": status, "budgets": int(n)})
        shown = frame.assign(passing=frame["run"].map(passing))
        st.subheader("Latest runs")
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_order=[
                "run",
                "verdict",
                "passing",
                "scenario",
                "branch",
                "commit",
                "started",
                "duration s",
            ],
            column_config={
                "passing": st.column_config.ProgressColumn(
                    "budgets passing", format="percent", min_value=0.0, max_value=1.0
                ),
                "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                "duration s": st.column_config.NumberColumn(format="%.0f s"),
            },
        )
        st.subheader("Budgets by run")
        if history:
            ordered = pd.DataFrame(history[::-1])  # oldest run on the left
            st.plotly_chart(charts.verdict_history_chart(ordered), width="stretch")
        else:
            st.caption(
                "No run has been checked yet: `castiel run` and `castiel check` record verdicts."
            )
