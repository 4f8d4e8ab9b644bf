"""Tables and a plot for docs/cache-comparison.md from the two runs' Castiel reports.

    python examples/cache_comparison_report.py OUT DOC PNG

OUT is examples/cache_comparison.sh's output directory: `OUT/off` and `OUT/on`, each with the
run's report (`runs/<id>/report.json`: examples/cache-comparison.yaml's measurements, and
`saturation` with every step of the stepped arrival-rate run and the knee), and
`OUT/difference.json` (`castiel check` of examples/cache-difference.yaml: the cache-off run
against the cache-on run as its baseline).
The tables replace what stands between the `<!-- figures -->` and `<!-- /figures -->`
markers of DOC. Every number is read from those reports; nothing is measured here."""

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
CACHES = ("http-catalogue", "shard-types", "permissions")


def observed(report: dict[str, Any]) -> dict[tuple[str, str], float | None]:
    """(budget, group value) -> observed value."""
    out: dict[tuple[str, str], float | None] = {}
    for v in report["verdicts"]:
        group = ",".join(str(x) for x in (v.get("group") or {}).values())
        out[(v["budget"], group)] = v["observed"]
    return out


def load(out: Path, mode: str) -> dict[str, Any]:
    (run_dir,) = (out / mode / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    return {
        "m": observed(report),
        "run": report["run"]["id"],
        "plan": report["run"]["environment"].get("arrival_plan", "?"),
        "saturation": report.get("saturation"),
    }


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.3g} ms"


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if value is None else fmt.format(value)


def change(off: float | None, on: float | None) -> str:
    if off is None or on is None or off == 0:
        return "—"
    return f"{(on - off) / off * 100:+.0f} %"


def capacity(runs: dict[str, dict[str, Any]]) -> list[str]:
    def knee(mode: str, key: str, fmt: str) -> str:
        sat = runs[mode]["saturation"]
        if sat is None:
            return "— (constant load)"
        k = sat["knee"]
        if key == "peak_throughput":
            return fmt.format(sat["peak_throughput"])
        if k is None:
            return f"none up to {sat['steps'][-1]['offered']:g} {sat['unit']}"
        return fmt.format(k[key]) + (f" {sat['unit']}" if "offered" in key else "")

    rows = [
        ("knee: offered load at which throughput stopped following", "offered", "{:g}"),
        ("last step that kept up", "sustained_offered", "{:g}"),
        (
            "**maximum sustainable throughput** (that step's)",
            "sustained_throughput",
            "{:.0f} req/s",
        ),
        ("peak throughput of any step", "peak_throughput", "{:.0f} req/s"),
    ]
    lines = ["| | cache off | cache on |", "|---|---:|---:|"]
    lines += [f"| {label} | {knee('off', k, f)} | {knee('on', k, f)} |" for label, k, f in rows]
    for key, label in (
        ("iterations", "iterations started"),
        ("dropped-iterations", "iterations dropped (no free user in the pool of 400)"),
    ):
        values = [runs[m]["m"].get((key, "")) for m in MODES]
        lines.append(f"| {label} | {num(values[0], '{:.0f}')} | {num(values[1], '{:.0f}')} |")
    return lines


def steps(runs: dict[str, dict[str, Any]]) -> list[str]:
    off, on = runs["off"]["saturation"], runs["on"]["saturation"]
    if off is None or on is None:
        return ["(no steps: a constant-load run)"]
    lines = [
        f"| offered ({off['unit']}) | throughput off | throughput on | follows off | follows on "
        "| p95 off | p95 on | p95 change |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, b in zip(off["steps"], on["steps"], strict=False):
        lines.append(
            f"| {a['offered']:g} | {a['throughput']:.0f} req/s | {b['throughput']:.0f} req/s "
            f"| {a['follow']:.0%} | {b['follow']:.0%} | {ms(a['p95'])} | {ms(b['p95'])} "
            f"| {change(a['p95'], b['p95'])} |"
        )
    return lines


def database(runs: dict[str, dict[str, Any]]) -> list[str]:
    off, on = runs["off"]["m"], runs["on"]["m"]
    lines = ["| | cache off | cache on | change |", "|---|---:|---:|---:|"]
    qps = [r.get(("db-queries-per-second", "")) for r in (off, on)]
    lines.append(
        f"| database queries per second (whole run) | {num(qps[0], '{:.0f}')} "
        f"| {num(qps[1], '{:.0f}')} | {change(qps[0], qps[1])} |"
    )
    rps = [r.get(("throughput", "")) for r in (off, on)]
    lines.append(
        f"| requests per second answered (whole run) | {num(rps[0], '{:.0f}')} "
        f"| {num(rps[1], '{:.0f}')} | {change(rps[0], rps[1])} |"
    )
    for route in ROUTES:
        values = [r.get(("db-queries-per-request", route)) for r in (off, on)]
        lines.append(
            f"| queries per request `{route}` | {num(values[0])} | {num(values[1])} "
            f"| {change(values[0], values[1])} |"
        )
    for cache in CACHES:
        values = [r.get(("cache-hit-ratio", cache)) for r in (off, on)]
        lines.append(
            f"| hit ratio `{cache}` | {num(values[0], '{:.1%}')} | {num(values[1], '{:.1%}')} | |"
        )
    return lines


def server_latency(runs: dict[str, dict[str, Any]]) -> list[str]:
    off, on = runs["off"]["m"], runs["on"]["m"]
    lines = [
        "| endpoint | mean off | mean on | change | p95 off | p95 on | change |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for route in ROUTES:
        avg = [r.get(("server-avg", route)) for r in (off, on)]
        p95 = [r.get(("server-p95", route)) for r in (off, on)]
        label = f"`{route}`" + (" (cached)" if route in CACHED else "")
        lines.append(
            f"| {label} | {ms(avg[0])} | {ms(avg[1])} | {change(avg[0], avg[1])} "
            f"| {ms(p95[0])} | {ms(p95[1])} | {change(p95[0], p95[1])} |"
        )
    return lines


def difference(out: Path) -> list[str]:
    path = out / "difference.json"
    if not path.exists():
        return ["(no difference report)"]
    report = json.loads(path.read_text())
    lines = [
        "| figure | cache off | cache on | off vs on | Castiel's verdict on the difference |",
        "|---|---:|---:|---:|---|",
    ]
    for v in report["verdicts"]:
        b = v.get("baseline") or {}
        group = ", ".join(str(x) for x in (v.get("group") or {}).values())
        name = v["budget"] + (f" `{group}`" if group else "")
        seconds = v["budget"].endswith("p95")
        fmt = ms if seconds else (lambda x: num(x, "{:.0f}"))
        worse = b.get("change")
        shift = "—" if worse is None else f"{worse * 100:+.0f} % worse"
        outcome = {
            "fail": "off is worse, significant",
            "pass": "off is not worse",
            "inconclusive": "within the noise",
        }.get(b.get("outcome", ""), "—")
        p = b.get("p_value")
        lines.append(
            f"| {name} | {fmt(b.get('current_value'))} | {fmt(b.get('baseline_value'))} "
            f"| {shift} | {outcome}"
            + (f" (Mann-Whitney p = {p:.2g})" if p is not None else "")
            + " |"
        )
    return lines


def tables(out: Path, runs: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"Runs: cache off `{runs['off']['run']}`, cache on `{runs['on']['run']}`; arrival plan "
        f"`{runs['off']['plan']}` (iterations/s), pool of 50 users growing to 400.",
        "",
        "**Capacity** (the saturation analysis of each run's report, budgets/knee.py):",
        "",
        *capacity(runs),
        "",
        "**At equal offered load** (each step after it settled; throughput = requests Locust "
        "completed per second; p95 from the intended start of each iteration, all endpoints):",
        "",
        *steps(runs),
        "",
        "**Database** (whole run; the hit ratios are hits / (hits + Redis misses)):",
        "",
        *database(runs),
        "",
        "**Latency, service side** (the runtime's ASGI middleware histogram, whole run: both "
        "runs had the same offered load over time):",
        "",
        *server_latency(runs),
        "",
        "**Castiel's baseline statistics for the difference** (`castiel check --budgets "
        "examples/cache-difference.yaml --run OFF --baseline ON`: is the cache-off run worse "
        "than the cache-on run beyond the noise? One-sided Mann-Whitney U over 10 s chunks):",
        "",
        *difference(out),
    ]
    return "\n".join(lines)


def plot(runs: dict[str, dict[str, Any]], png: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (tput, lat) = plt.subplots(1, 2, figsize=(11, 3.6))
    for mode, style in zip(MODES, ("o-", "s--"), strict=True):
        sat = runs[mode]["saturation"]
        if sat is None:
            continue
        offered = [s["offered"] for s in sat["steps"]]
        tput.plot(offered, [s["throughput"] for s in sat["steps"]], style, label=f"cache {mode}")
        p95 = [(s["p95"] or 0) * 1000 for s in sat["steps"]]
        lat.plot(offered, p95, style, label=f"cache {mode}")
        if sat["knee"]:
            tput.axvline(sat["knee"]["offered"], linestyle=":", color="grey")
    top = max(
        s["offered"] for m in MODES if runs[m]["saturation"] for s in runs[m]["saturation"]["steps"]
    )
    tput.plot([0, top], [0, top], color="lightgrey", linewidth=1, label="offered")
    tput.set_xlabel("offered load (iterations/s)")
    tput.set_ylabel("throughput (requests/s)")
    tput.set_title("Throughput against offered load (dotted: knees)")
    tput.legend()
    lat.set_xlabel("offered load (iterations/s)")
    lat.set_ylabel("p95 (ms, log)")
    lat.set_yscale("log")
    lat.set_title("p95 from the intended start")
    lat.legend()
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
    doc.write_text(f"{head}<!-- figures -->\n{tables(out, runs)}\n<!-- /figures -->{tail}")
    plot(runs, png)
    print(f"wrote {doc} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
