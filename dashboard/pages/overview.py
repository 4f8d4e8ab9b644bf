"""Overview: the latest runs with verdict badges and how many budgets passed over time."""

import pandas as pd
import streamlit as st

from dashboard import charts, common

st.title("Castiel · overview")
store = common.store()
if store is not None:
    frame = common.runs(store, str(common.store_path()))
    if frame.empty:
        st.info(f"No runs yet. Make one:\n\n`{common.FIRST_RUN}`")
    else:
        latest = frame.iloc[0]
        c1, c2, c3 = st.columns(3)
        c1.metric("runs", len(frame))
        c2.metric("latest verdict", latest["verdict"])
        c3.metric("running now", int((frame["status"] == "running").sum()))
        st.subheader("Latest runs")
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config={
                "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                "duration s": st.column_config.NumberColumn(format="%.0f s"),
            },
        )
        history = []
        for run_id in list(frame["run"])[:20][::-1]:
            v = common.verdicts(store, str(common.store_path()), run_id)
            if v.empty:
                continue
            for status, n in v["status"].str.split(" ").str[-1].value_counts().items():
                history.append({"run": run_id[-6:], "status": status, "budgets": int(n)})
        st.subheader("Budgets by run")
        if history:
            st.plotly_chart(charts.verdict_history_chart(pd.DataFrame(history)), width="stretch")
        else:
            st.caption(
                "No run has been checked yet: `castiel run` and `castiel check` record verdicts."
            )
