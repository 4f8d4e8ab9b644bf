"""collectors — every source of metrics into one time-series model (DESIGN.md, docs/metrics.md,
docs/fleet.md).

model (series keys, points, mergeable histograms, batches), base (the Collector protocol),
store and migrations (the SQLite WAL store of runs, series, verdicts), exposition (cumulative
Prometheus samples -> interval increments and histograms). Sources: runtime (queues and worker
heartbeats from Redis), prometheus_scrape (/metrics endpoints), promql (a Prometheus server),
azure_monitor (Application Insights and platform metrics), sources (castiel.yaml's `sources:`
section -> collectors), browser (page loads in headless Chromium: Web Vitals and page
weight). yamlspec: located YAML validation, shared by every config reader."""
