"""Tables and a plot for docs/cache-comparison.md from two runs' Castiel reports.

    python examples/cache_comparison_report.py OUT DOC PNG

OUT is examples/cache_comparison.sh's output directory: `OUT/off` and `OUT/on`, each with the
gate's reports (`runs/<id>/report.json`) and `comparison.json`, the `castiel check` report of
examples/cache-comparison.yaml over the same stored run. The tables replace what stands
between the `<!-- figures -->` and `<!-- /figures -->` markers of DOC."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MODES = ("off", "on")
ROUTES = {  # server route template -> Locust name
    "/shards/{shard_type}": "/shards/{shard_type}",
    "/users/{user_id:int}/permissions": "/users/{user_id}/permissions",
    "/orders/{order_id:int}": "/orders/{order_id}",
    "/orders": "/orders",
}
CACHED = ("/shards/{shard_type}", "/users/{user_id:int}/permissions")


def observed(report: dict[str, Any]) -> dict[tuple[str, str], float | None]:
    """(budget, group value) -> observed value."""
    out: dict[tuple[str, str], float | None] = {}
    for v in report["verdicts"]:
        group = ",".join(str(x) for x in (v.get("group") or {}).values())
        out[(v["budget"], group)] = v["observed"]
    return out


def load(out: Path, mode: str) -> dict[str, Any]:
    comparison = json.loads((out / mode / "comparison.json").read_text())
    (run_dir,) = (out / mode / "runs").iterdir()
    gate = json.loads((run_dir / "report.json").read_text())
    return {"m": observed(comparison), "gate": gate, "run": gate["run"]["id"]}


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.2f} ms"


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if value is None else fmt.format(value)


def change(off: float | None, on: float | None) -> str:
    if off is None or on is None or off == 0:
        return "—"
    return f"{(on - off) / off * 100:+.0f} %"


def verdict(gate: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in gate["summary"].items() if n)
    failed = sorted({v["budget"] for v in gate["verdicts"] if v["status"] in ("fail", "abort")})
    why = f" ({', '.join(failed)})" if failed else ""
    return f"**{gate['status'].upper()}** ({counts}){why}"


def tables(runs: dict[str, dict[str, Any]]) -> str:
    off, on = runs["off"]["m"], runs["on"]["m"]
    lines = [
        f"Runs: cache off `{runs['off']['run']}`, cache on `{runs['on']['run']}`. "
        f"Verdicts with examples/budgets.yaml: off {verdict(runs['off']['gate'])}; "
        f"on {verdict(runs['on']['gate'])}.",
        "",
        "**Latency, service side** (the runtime's ASGI middleware histogram, after ramp-up; "
        "mean = sum / count, exact; percentiles are interpolated within histogram buckets, "
        "the finest 0.1-0.25-0.5-1 ms):",
        "",
        "| endpoint | mean off | mean on | change | p50 off | p50 on | p95 off | p95 on "
        "| change p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for route in ROUTES:
        avg = [r.get(("server-avg", route)) for r in (off, on)]
        s50 = [r.get(("server-p50", route)) for r in (off, on)]
        s95 = [r.get(("server-p95", route)) for r in (off, on)]
        label = f"`{route}`" + (" (cached)" if route in CACHED else "")
        lines.append(
            f"| {label} | {ms(avg[0])} | {ms(avg[1])} | {change(avg[0], avg[1])} "
            f"| {ms(s50[0])} | {ms(s50[1])} | {ms(s95[0])} | {ms(s95[1])} "
            f"| {change(s95[0], s95[1])} |"
        )
    lines += [
        "",
        "**Latency, client side** (Locust, which records whole milliseconds):",
        "",
        "| endpoint | mean off | mean on | p50 off | p50 on | p95 off | p95 on |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for route, name in ROUTES.items():
        avg = [r.get(("client-avg", name)) for r in (off, on)]
        c50 = [r.get(("client-p50", name)) for r in (off, on)]
        c95 = [r.get(("client-p95", name)) for r in (off, on)]
        label = f"`{name}`" + (" (cached)" if route in CACHED else "")
        lines.append(
            f"| {label} | {ms(avg[0])} | {ms(avg[1])} | {ms(c50[0])} | {ms(c50[1])} "
            f"| {ms(c95[0])} | {ms(c95[1])} |"
        )
    lines += [
        "",
        "**Database queries per request** (mean) and **load**:",
        "",
        "| | cache off | cache on |",
        "|---|---:|---:|",
    ]
    for route in ROUTES:
        values = [r.get(("db-queries-per-request", route)) for r in (off, on)]
        lines.append(f"| queries/request `{route}` | {num(values[0])} | {num(values[1])} |")
    for key, label in (
        ("db-queries-per-second", "database queries per second"),
        ("throughput", "requests per second (service)"),
        ("client-throughput", "requests per second (Locust)"),
    ):
        values = [r.get((key, "")) for r in (off, on)]
        lines.append(f"| {label} | {num(values[0], '{:.1f}')} | {num(values[1], '{:.1f}')} |")
    for cache in ("shard-types", "permissions"):
        values = [r.get(("cache-hit-ratio", cache)) for r in (off, on)]
        lines.append(
            f"| cache hit ratio `{cache}` | {num(values[0], '{:.1%}')} "
            f"| {num(values[1], '{:.1%}')} |"
        )
    return "\n".join(lines)


def plot(runs: dict[str, dict[str, Any]], png: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (lat, db) = plt.subplots(1, 2, figsize=(11, 3.4))
    labels = ["shards mean", "shards p95", "perms mean", "perms p95"]
    width = 0.38
    for i, mode in enumerate(MODES):
        m = runs[mode]["m"]
        values = [
            (m.get((f"server-{p}", route)) or 0) * 1000 for route in CACHED for p in ("avg", "p95")
        ]
        lat.bar([x + (i - 0.5) * width for x in range(4)], values, width, label=f"cache {mode}")
        qpr = [m.get(("db-queries-per-request", route)) or 0 for route in ROUTES]
        db.bar([x + (i - 0.5) * width for x in range(4)], qpr, width, label=f"cache {mode}")
    lat.set_xticks(range(4), labels)
    lat.set_ylabel("ms (service side)")
    lat.set_title("Latency of the cached endpoints")
    lat.legend()
    db.set_xticks(range(4), ["shards", "permissions", "order read", "order write"])
    db.set_ylabel("queries per request (mean)")
    db.set_title("Database queries per request")
    db.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, doc, png = (Path(a) for a in argv)
    runs = {mode: load(out, mode) for mode in MODES}
    text = doc.read_text() if doc.exists() else "<!-- figures -->\n<!-- /figures -->\n"
    head, sep, rest = text.partition("<!-- figures -->")
    _, sep2, tail = rest.partition("<!-- /figures -->")
    if not sep or not sep2:
        print(
            f"{doc}: the <!-- figures --> ... <!-- /figures --> markers are missing",
            file=sys.stderr,
        )
        return 2
    doc.write_text(f"{head}<!-- figures -->\n{tables(runs)}\n<!-- /figures -->{tail}")
    plot(runs, png)
    print(f"wrote {doc} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
