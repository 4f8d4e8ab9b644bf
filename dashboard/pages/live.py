"""Live run: the running run refreshed every 2 s; start and stop a run from here (it is a
`castiel run` child process, so alerts fire once however many tabs are open)."""

import os
import shlex
import signal
import subprocess
import sys

import streamlit as st

from dashboard import charts, common, data

st.title("Live run")
store = common.store()


@st.fragment(run_every="2s")
def panel() -> None:
    if store is None:
        return
    frame = data.runs_frame(store, 10)
    running = frame[frame["status"] == "running"]
    if running.empty:
        st.info(f"No run is in progress. Start one below, or from a terminal: `{common.FIRST_RUN}`")
        return
    run = store.get_run(str(running.iloc[0]["run"]))
    start, end = common.run_window(run)
    locust = data.run_series(
        store, run.id, ("locust_users", *data.REQUEST_METRICS, *data.LATENCY_METRICS)
    )
    users = data.gauge_timeline(
        [s for s in locust if s.key.name == "locust_users"], "name", start, end
    )
    rps = data.rate_timeline(
        [s for s in locust if s.key.name in data.REQUEST_METRICS], "name", start, end
    )
    p95 = data.percentile_timeline(
        [s for s in locust if s.key.name in data.LATENCY_METRICS],
        "name",
        start,
        end,
        qs=(50, 95, 99),
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("run", run.id)
    c2.metric("users", int(users["value"].iloc[-1]) if not users.empty else 0)
    c3.metric(
        "requests/s", f"{rps.groupby('t')['per_s'].sum().iloc[-1]:,.1f}" if not rps.empty else "0"
    )
    if not p95.empty:
        st.plotly_chart(charts.latency_chart(p95, "name", "p95"), width="stretch")
    live = data.verdicts_frame(store, run.id, source="live")
    if not live.empty:
        st.dataframe(
            live[["budget", "group", "status", "observed", "thresholds"]],
            hide_index=True,
            width="stretch",
        )


panel()

st.subheader("Start a run")
with st.form("start"):
    target = st.text_input("target", "http://127.0.0.1:8000")
    budgets = st.text_input("budgets file", "examples/budgets.yaml")
    scenario = st.selectbox("scenario", ["normal", "peak", "stress", "spike", "soak"])
    users = st.number_input("users", 1, 10_000, 10)
    duration = st.text_input("duration", "1m")
    started = st.form_submit_button("Start")
if started:
    argv = [
        sys.executable,
        "-m",
        "castiel",
        "run",
        "--target",
        target,
        "--budgets",
        budgets,
        "--scenario",
        scenario,
        "--users",
        str(int(users)),
        "--duration",
        duration,
        "--store",
        str(common.store_path()),
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    st.session_state["run_pid"] = proc.pid
    st.success(f"started: `{shlex.join(argv[1:])}` (pid {proc.pid})")
if st.session_state.get("run_pid") and st.button("Stop the run I started"):
    try:
        os.killpg(st.session_state["run_pid"], signal.SIGTERM)
        st.info("asked the run to stop; its reports still get written")
    except ProcessLookupError:
        st.info("that run has already finished")
    st.session_state.pop("run_pid", None)
