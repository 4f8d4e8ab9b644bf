"""Web Vitals from the page's own performance APIs, measured the way Lighthouse and the
`web-vitals` library define them (pure functions over what the page reports).

`OBSERVER_JS` is added to every new document before its first script runs; it keeps the
raw entries of the buffered `largest-contentful-paint`, `layout-shift` and `longtask`
observers. After the load, `COLLECT_JS` returns them with the navigation and paint timings,
and `vitals_from` turns that into `Vitals`:

* TTFB: `responseStart` of the navigation (from the start of the navigation).
* FCP: the `first-contentful-paint` paint entry.
* LCP: the last `largest-contentful-paint` candidate (no input happens, so none is dropped).
* CLS: the largest session window of layout shifts (gaps under 1 s, windows up to 5 s),
  shifts right after input excluded.
* TBT: for every long task after FCP, the part beyond 50 ms (the part before FCP is clipped
  off), summed up to the end of the observation.
* Longest task after FCP (Lighthouse's max potential first input delay).
* Load: `loadEventEnd`.

INP needs real user input and Speed Index a filmstrip; neither is measured (docs/frontend.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OBSERVER_JS = """
(() => {
  const seen = { lcp: [], shifts: [], tasks: [] };
  Object.defineProperty(window, "__castielVitals", { value: seen, enumerable: false });
  const watch = (type, keep) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach(keep))
        .observe({ type, buffered: true });
    } catch (e) { /* an entry type this browser does not support */ }
  };
  watch("largest-contentful-paint", (e) =>
    seen.lcp.push([e.startTime, e.url || (e.element ? e.element.tagName.toLowerCase() : "")]));
  watch("layout-shift", (e) => seen.shifts.push([e.startTime, e.value, e.hadRecentInput]));
  watch("longtask", (e) => seen.tasks.push([e.startTime, e.duration]));
})();
"""

COLLECT_JS = """
(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const seen = window.__castielVitals || { lcp: [], shifts: [], tasks: [] };
  return {
    url: location.href,
    responseStart: nav ? nav.responseStart : null,
    loadEventEnd: nav ? nav.loadEventEnd : null,
    fcp: fcp ? fcp.startTime : null,
    lcp: seen.lcp, shifts: seen.shifts, tasks: seen.tasks,
    now: performance.now(),
  };
})()
"""

BLOCKING_THRESHOLD_MS = 50.0
CLS_GAP_MS = 1000.0
CLS_WINDOW_MS = 5000.0


@dataclass(frozen=True)
class Vitals:
    """Seconds (CLS is a unitless score); None when the page did not produce the entry
    (e.g. no LCP for a page with no content)."""

    ttfb: float | None
    fcp: float | None
    lcp: float | None
    cls: float
    tbt: float
    longest_task: float
    load: float | None
    lcp_element: str = ""
    """The LCP element's resource URL (images) or tag name (text)."""


def cumulative_layout_shift(shifts: Sequence[tuple[float, float, bool]]) -> float:
    """The largest session window: consecutive shifts less than 1 s apart, at most 5 s long."""
    best = current = 0.0
    first = last = None
    for start, value, recent_input in sorted(shifts):
        if recent_input:
            continue
        if (
            first is None
            or last is None
            or start - last >= CLS_GAP_MS
            or start - first >= CLS_WINDOW_MS
        ):
            first, current = start, 0.0
        current += value
        last = start
        best = max(best, current)
    return best


def blocking(tasks: Sequence[tuple[float, float]], fcp_ms: float) -> tuple[float, float]:
    """(total blocking time, longest task) in ms over the long tasks after FCP; a task that
    straddles FCP counts only with its part after FCP."""
    total = longest = 0.0
    for start, duration in tasks:
        end = start + duration
        clipped = end - max(start, fcp_ms)
        if clipped <= 0:
            continue
        longest = max(longest, clipped)
        total += max(0.0, clipped - BLOCKING_THRESHOLD_MS)
    return total, longest


def _ms(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def vitals_from(raw: Mapping[str, Any]) -> Vitals:
    """`Vitals` from what COLLECT_JS returned (malformed entries are skipped)."""
    fcp = _ms(raw.get("fcp"))
    lcp_entries = [e for e in raw.get("lcp") or [] if isinstance(e, list) and len(e) == 2]
    lcp = _ms(lcp_entries[-1][0]) if lcp_entries else None
    shifts = [
        (float(s[0]), float(s[1]), bool(s[2]))
        for s in raw.get("shifts") or []
        if isinstance(s, list) and len(s) == 3 and _ms(s[0]) is not None and _ms(s[1]) is not None
    ]
    tasks = [
        (float(t[0]), float(t[1]))
        for t in raw.get("tasks") or []
        if isinstance(t, list) and len(t) == 2 and _ms(t[0]) is not None and _ms(t[1]) is not None
    ]
    tbt, longest = blocking(tasks, fcp if fcp is not None else 0.0)
    ttfb = _ms(raw.get("responseStart"))
    load = _ms(raw.get("loadEventEnd"))

    def seconds(ms: float | None) -> float | None:
        return None if ms is None else ms / 1000.0

    return Vitals(
        ttfb=seconds(ttfb),
        fcp=seconds(fcp),
        lcp=seconds(lcp),
        cls=cumulative_layout_shift(shifts),
        tbt=tbt / 1000.0,
        longest_task=longest / 1000.0,
        load=seconds(load) if load else None,
        lcp_element=str(lcp_entries[-1][1]) if lcp_entries else "",
    )
