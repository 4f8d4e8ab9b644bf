"""docs/metrics.md is the contract for the cache's metrics: what it documents is what a real
service emits (names, label names, label values), and its hit-ratio recipe, evaluated over a
real scrape, counts each lookup once (a local miss that Redis then answers is not a second
miss)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from budgets.selectors import parse_selector
from collectors.model import SeriesKey
from tests.examples.test_service import start_service
from tests.helpers import ROOT

DOC = ROOT / "docs" / "metrics.md"


def documented() -> dict[str, tuple[str, set[str], dict[str, set[str]]]]:
    """castiel_cache_* rows: name -> (kind, label names, documented values per label)."""
    out = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `(castiel_cache_[a-z_]+)` \| (\w+) \| (.*?) \| runtime cache \|$", line)
        if m is None:
            continue
        name, kind, labels = m.groups()
        names: set[str] = set()
        values: dict[str, set[str]] = {}
        for part in re.finditer(r"`([a-z_]+)`(?: \(([^)]*)\))?", labels):
            label, said = part.group(1), part.group(2) or ""
            names.add(label)
            found = set(re.findall(r"`([a-z_]+)`", said))
            if found:
                values[label] = found
        out[name] = (kind, names, values)
    return out


def recipe() -> dict[str, object]:
    block = re.search(r"```yaml\n(metric: castiel_cache_hits_total\n.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/metrics.md has the hit-ratio recipe"
    loaded: dict[str, object] = yaml.safe_load(block.group(1))
    return loaded


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def get(base: str, path: str) -> None:
    with urllib.request.urlopen(base + path, timeout=10) as r:
        assert r.status == 200


def post(base: str, path: str, body: bytes) -> None:
    req = urllib.request.Request(
        base + path, body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201


def test_documented_cache_metrics_are_what_a_real_service_emits(
    redis_url: str, tmp_path: Path
) -> None:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    lookups = 0
    try:
        for _ in range(3):
            get(base, "/users/7/permissions")
            lookups += 1
        post(base, "/users/7/permissions", b'{"permission": "audit"}')  # invalidates it
        get(base, "/users/7/permissions")
        lookups += 1
        samples = scrape(base)
    finally:
        proc.terminate()
        proc.wait(10)

    doc = documented()
    assert len(doc) >= 8, doc
    emitted: dict[str, set[str]] = {}
    values: dict[tuple[str, str], set[str]] = {}
    for name, labels in samples:
        if not name.startswith("castiel_cache_") or name.endswith("_created"):
            continue
        family = re.sub(r"_(bucket|count|sum)$", "", name)
        keys = {k for k, _ in labels if k != "le"}
        emitted.setdefault(family, set()).update(keys)
        for k, v in labels:
            values.setdefault((family, k), set()).add(v)
    assert set(emitted) == set(doc), "every emitted cache family is documented, and only those"
    for family, (_, names, documented_values) in doc.items():
        assert emitted[family] == names, family
        for label, allowed in documented_values.items():
            assert values[(family, label)] <= allowed, (family, label, values[(family, label)])

    # The recipe over the scrape: one lookup, one count in the denominator.
    r = recipe()
    numerator = parse_selector(str(r["metric"]))
    denominator = [parse_selector(str(d)) for d in r["denominator"]]  # type: ignore[attr-defined]

    def total(selectors: list, cache: str) -> float:  # type: ignore[type-arg]
        return sum(
            value
            for (name, labels), value in samples.items()
            if dict(labels).get("cache") == cache
            and any(s.matches(SeriesKey.of(name, dict(labels))) for s in selectors)
        )

    hits = total([numerator], "permissions")
    seen = total(denominator, "permissions")
    loads = sum(
        v
        for (name, labels), v in samples.items()
        if name == "castiel_cache_loads_total" and dict(labels).get("cache") == "permissions"
    )
    assert seen == lookups == 4  # each lookup counted once
    assert hits == lookups - loads == 2  # loaded at the first lookup and after the grant
    local_misses = samples[
        ("castiel_cache_misses_total", (("cache", "permissions"), ("layer", "local")))
    ]
    assert local_misses > 0  # the double count the recipe avoids is real here
