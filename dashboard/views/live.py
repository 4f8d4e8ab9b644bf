"""Live run: the run in progress, refreshed every 2 s (users over time, throughput, failures,
latency percentiles per endpoint against the budget thresholds (each budget's own percentile),
Locust's failures and exceptions tables, page loads of `--browse` pages, queues, caches,
workers, budget states and firing alerts), and the run's per-second table as CSV. A lead can
start a run here and stop it: it is a `castiel run` child process, one at a time for the whole
dashboard (dashboard/launcher.py), so its alerts fire once however many tabs are open and
every tab sees and can stop it."""

from __future__ import annotations

import os
import shlex
import sys

import pandas as pd
import streamlit as st

from collectors.locator import STORE_ENV
from collectors.model import RunInfo, SeriesData
from collectors.store import Store, StoreError
from dashboard import charts, common, data, frontend, verdict_frames
from dashboard.launcher import Refused

LOCUST = (
    "locust_users",
    "locust_failures_total",
    "locust_errors_total",
    "locust_exceptions_total",
    *data.REQUEST_METRICS,
    *data.LATENCY_METRICS,
)
RUNTIME = (
    "castiel_queue_jobs",
    "castiel_job_wait_seconds",
    "castiel_cache_hits_total",
    "castiel_cache_misses_total",
    "castiel_workers",
)

st.title("Live run")


def _latest_rate(frame: pd.DataFrame) -> float:
    return float(frame.groupby("t")["per_s"].sum().iloc[-1]) if not frame.empty else 0.0


def load_panel(store: Store, path: str, run: RunInfo) -> None:
    start, end = common.run_window(run)
    series = common.series(store, path, run, (*LOCUST, *RUNTIME))
    label = "name"
    by_name = {n: [s for s in series if s.key.name == n] for n in LOCUST}
    users = data.gauge_timeline(by_name["locust_users"], label, start, end)
    users = users.assign(**{label: "users"}) if not users.empty else users
    rps = data.rate_timeline(
        [s for n in data.REQUEST_METRICS for s in by_name[n]], label, start, end
    )
    fails = data.rate_timeline(by_name["locust_failures_total"], label, start, end)
    c1, c2, c3, c4 = st.columns(4)
    st.caption(f"run `{run.id}` · scenario {run.scenario or '-'} · {run.status}")
    c1.metric("elapsed", f"{end - start:,.0f} s")
    c2.metric("users", int(users["value"].iloc[-1]) if not users.empty else 0)
    c3.metric("requests/s", f"{_latest_rate(rps):,.1f}")
    c4.metric("failures/s", f"{_latest_rate(fails):,.2f}")
    live = common.verdicts(store, path, run.id, "live")
    qs = verdict_frames.percentiles_of(live)
    latency = data.percentile_timeline(
        [s for n in data.LATENCY_METRICS for s in by_name[n]], label, start, end, qs=qs
    )
    if latency.empty:
        st.caption("No request has finished yet.")
    else:
        # p95 first, then every other percentile a budget judges (p90, p99.9, ...).
        columns = [f"p{q:g}" for q in sorted(qs, key=lambda q: (q != 95, q))]
        for tab, column in zip(st.tabs(columns), columns, strict=True):
            with tab:
                st.plotly_chart(
                    charts.latency_chart(
                        latency, label, column, verdict_frames.latency_limits(live, column)
                    ),
                    width="stretch",
                    key=f"live_latency_{column}",
                )
    if common.series(store, path, run, frontend.NAMES):
        st.subheader("Pages (headless Chromium, under this load)")
        frontend.panel(store, path, run, "live_pages")
    left, right = st.columns(2)
    if not users.empty:
        left.plotly_chart(
            charts.gauge_chart(users, label, "users"), width="stretch", key="live_users"
        )
    if not rps.empty:
        right.plotly_chart(charts.rate_chart(rps, label), width="stretch", key="live_rps")
    if not fails.empty:
        left.plotly_chart(
            charts.rate_chart(fails, label, "failures/s"), width="stretch", key="live_fails"
        )
    failures_panel(by_name)
    csv_button(run, by_name)

    st.subheader("Budgets (live)")
    if live.empty:
        st.caption("The monitor has not evaluated the budgets yet.")
    else:
        st.dataframe(
            live[["status", "budget", "group", "value", "thresholds", "message"]],
            hide_index=True,
            width="stretch",
            column_config={"value": st.column_config.TextColumn("observed")},
        )
    st.subheader("Alerts")
    common.show_firing(store, path)


def failures_panel(by_name: dict[str, list[SeriesData]]) -> None:
    """Locust's own failures table (per endpoint and error message) and exceptions table."""
    errors = data.error_table(by_name["locust_errors_total"])
    exceptions = data.exception_table(by_name["locust_exceptions_total"])
    st.subheader("Failures")
    if errors.empty:
        st.caption("No request failed.")
    else:
        st.dataframe(errors, hide_index=True, width="stretch", key="live_errors")
    st.subheader("Exceptions")
    if exceptions.empty:
        st.caption("No exception in the users' code.")
    else:
        st.dataframe(exceptions, hide_index=True, width="stretch", key="live_exceptions")


def csv_button(run: RunInfo, by_name: dict[str, list[SeriesData]]) -> None:
    """The run's per-second table, built only when the button is clicked."""
    start, end = common.run_window(run)

    def body() -> bytes:
        table = data.per_second_table(
            by_name["locust_users"],
            [s for n in data.REQUEST_METRICS for s in by_name[n]],
            by_name["locust_failures_total"],
            [s for n in data.LATENCY_METRICS for s in by_name[n]],
            start,
            end,
        )
        return str(table.to_csv(index=False)).encode()

    st.download_button(
        "⬇️ per-second table (CSV)",
        body,
        file_name=f"castiel-{run.id}-per-second.csv",
        mime="text/csv",
        key=f"live_csv_{run.id}",
        on_click="ignore",
    )


def runtime_panel(store: Store, path: str, run: RunInfo) -> None:
    start, end = common.run_window(run)
    series = [
        s for s in common.series(store, path, run, (*LOCUST, *RUNTIME)) if s.key.name in RUNTIME
    ]
    if not series:
        st.caption(
            "No queue, cache or worker metrics in this run: start it with `--redis URL` to "
            "collect them."
        )
        return
    by_name = {n: [s for s in series if s.key.name == n] for n in RUNTIME}
    # "wait": ready to run, not yet fetched (runtime.job.JobState.WAIT): the queue's depth.
    waiting = [s for s in by_name["castiel_queue_jobs"] if s.key.label("state") == "wait"]
    workers = data.last_values(by_name["castiel_workers"], "state")
    c1, c2, c3 = st.columns(3)
    c1.metric("jobs waiting", int(sum(data.last_values(waiting, "queue").values())))
    c2.metric("healthy workers", int(workers.get("healthy", 0)))
    c3.metric(
        "unhealthy workers",
        int(workers.get("unhealthy", 0)),
        delta=None if not workers.get("unhealthy") else "heartbeat missing",
        delta_color="inverse",
    )
    left, right = st.columns(2)
    depth = data.gauge_timeline(waiting, "queue", start, end)
    if not depth.empty:
        left.plotly_chart(
            charts.gauge_chart(depth, "queue", "jobs waiting"), width="stretch", key="live_depth"
        )
    wait = data.percentile_timeline(by_name["castiel_job_wait_seconds"], "queue", start, end)
    if not wait.empty:
        right.plotly_chart(
            charts.latency_chart(wait, "queue", "p95").update_layout(
                yaxis_title="time in queue p95 (ms)"
            ),
            width="stretch",
            key="live_wait",
        )
    ratio = data.ratio_timeline(
        by_name["castiel_cache_hits_total"],
        by_name["castiel_cache_misses_total"],
        "layer",
        start,
        end,
    )
    if not ratio.empty:
        st.plotly_chart(
            charts.gauge_chart(ratio, "layer", "cache hit ratio").update_yaxes(
                tickformat=".0%", range=[0, 1]
            ),
            width="stretch",
            key="live_cache",
        )


@st.fragment(run_every="2s")
def panel() -> None:
    try:
        live_panel()
    except StoreError as exc:  # the next tick tries again
        st.warning(f"The store cannot be read right now: {exc}")


def live_panel() -> None:
    # Opened again on every tick: a tick may run in another thread than the page did.
    store = common.store()
    if store is None:
        return
    path = common.store_key()
    frame = common.runs(store, path, 10)
    if frame.empty:
        st.info(f"No runs yet. Start one below, or from a terminal:\n\n`{common.FIRST_RUN}`")
        return
    running = frame[frame["status"] == "running"]
    if running.empty:
        latest = frame.iloc[0]
        st.info(
            f"No run is in progress; showing the last one ({latest['run']}, "
            f"{latest['verdict']}). Start one below, or from a terminal:\n\n"
            f"`{common.FIRST_RUN}`"
        )
        running = frame.iloc[:1]
    run = common.run_info(store, str(running.iloc[0]["run"]))
    if run is None:
        return
    load, runtime = st.tabs(["Load", "Queues · caches · workers"])
    with load:
        load_panel(store, path, run)
    with runtime:
        runtime_panel(store, path, run)


panel()

# (Quietly: the panel above has already said so when there is no store yet.)
if common.locator().exists() and (store_for_page := common.store()):
    runs = common.runs(store_for_page, common.store_key(), 10)
    finished = runs[runs["status"] != "running"]
    if not finished.empty:
        last = common.run_info(store_for_page, str(finished.iloc[0]["run"]))
        if last is not None:
            st.caption(f"Last finished run: `{last.id}`")
            common.report_button(store_for_page, last, "live")

st.divider()
st.subheader("Start a run")
launcher = common.launcher()
store_now = common.store() if common.locator().exists() else None
in_store = common.running_run(store_now) if store_now is not None else None
launched = launcher.current()
ended = launcher.last()
if launched is not None:
    st.info(
        f"A run started from this dashboard is in progress (pid {launched.pid}): "
        f"`{shlex.join(launched.argv[1:])}`"
    )
    if st.button("Stop the run", key="stop_run"):
        if launcher.stop():
            st.info("Asked the run to stop (as Ctrl-C would): it is recorded as aborted.")
        else:
            st.info("That run has already finished.")
elif in_store is not None:
    st.info(
        f"Run `{in_store.id}` is in progress, started outside this dashboard (host "
        f"{in_store.environment.get('host', '?')}): stop it where it runs."
    )
if ended is not None:
    text = f"The last run started here (pid {ended.pid}) ended: {ended.meaning}"
    if ended.code in (0, 1, 4):
        st.info(f"{text}.")
    else:
        st.error(f"{text}: {ended.message or 'no message'}")
with st.form("start"):
    target = st.text_input("target", "http://127.0.0.1:8000")
    budgets = st.text_input("budgets file", "examples/budgets.yaml")
    c1, c2, c3 = st.columns(3)
    scenario = c1.selectbox("scenario", ["normal", "peak", "stress", "spike", "soak"])
    users = c2.number_input("users", 1, 10_000, 10)
    duration = c3.text_input("duration", "1m")
    redis = st.text_input("Redis of the service (optional: queue, cache, worker metrics)", "")
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
        "--runs-dir",
        str(common.runs_dir()),
        *(["--redis", redis] if redis.strip() else []),
    ]
    # The store goes in the environment, not the argv: a URL's password would show in `ps`
    # and in the message below.
    env = {**os.environ, STORE_ENV: common.locator().secret_text()}
    try:
        launched = launcher.start(argv, in_store, env)
        st.success(f"started: `{shlex.join(argv[1:])}` (pid {launched.pid})")
    except Refused as exc:
        st.warning(f"Not started: {exc}")
