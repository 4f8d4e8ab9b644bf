"""What the alerts config says about exported alerts: the severity of each level, the labels
and pending time per budget, the deployment (Castiel's `run` label) and the dashboard page
of each budget, so alerts evaluated by Prometheus carry the labels Castiel's own would, and
the same routes, silences and inhibitions apply to them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from alerts.config import AlertsConfig
from budgets.export.options import AlertSettings, ExportOptions


def with_alerts_config(
    options: ExportOptions,
    cfg: AlertsConfig,
    names: Iterable[str],
    dashboard_url: str | None = None,
) -> ExportOptions:
    """`options` with the alerts config's labels, severities, per-budget settings and links.
    `dashboard_url` overrides the config's `dashboard.url`."""
    names = list(names)
    dashboard = (
        cfg.dashboard if dashboard_url is None else replace(cfg.dashboard, url=dashboard_url)
    )
    alerting = {}
    for name in names:
        s = cfg.settings(name)
        alerting[name] = AlertSettings(
            enabled=s.enabled is not False,
            for_=s.for_ or 0.0,
            keep_firing_for=s.keep_firing_for or 0.0,
            labels=s.labels,
            annotations=s.annotations,
        )
    links = {n: link for n in names if (link := dashboard.page(cfg.deployment or "", n))}
    return replace(
        options,
        severity=dict(cfg.severity),
        labels=cfg.labels,
        alerting=alerting,
        links=links,
        run=cfg.deployment,
        rules=frozenset(r.name for r in cfg.rules),
    )
