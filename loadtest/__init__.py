"""loadtest — load tests and the monitor loop (DESIGN.md, docs/loadtest.md).

profiles and shapes (normal, peak, stress, spike, soak as pure functions; Locust
LoadTestShapes), launch/locust_process (Locust headless in its own process, local or
distributed), reporter and stream (per-second stats out of Locust), monitor (collect -> store
-> evaluate -> alerts, one tick a second), monitor_metrics (what `castiel monitor` serves to
Prometheus), live (the terminal view), preflight (is the target up? exit 3), orchestrator
(`castiel run` end to end)."""
