"""`castiel.yaml`, the project config: one loader, one typed dataclass per section.

    sources:   where metrics come from (collectors.sources: Redis, scrape endpoints, a
               Prometheus server, Azure Monitor); docs/fleet.md
    alerts:    alert routing (alerts.config); docs/alerts.md
    oncall:    budgets exported as production alerts (budgets.export.config); docs/oncall.md
    baseline:  how "last passing" picks a like-for-like baseline (budgets.baseline_config);
               docs/ci.md

Each section is parsed by the package that owns its model, straight from the same text, so
every message names file, line, column and key. A top-level key no section claims is an
error too (a misspelt `source:` must not silently mean "no sources"). To add a section: a
field on `ProjectConfig`, its name in `SECTIONS`, and one line in `parse_project_config`.

`castiel.yaml` in the working directory is read when it exists; `--config FILE` names another
(which then must exist).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, ScalarNode

from budgets.baseline_config import parse_baseline_section
from budgets.baseline_select import MatchPolicy
from collectors.sources import SourcesConfig, SourcesConfigError, parse_sources
from collectors.yamlspec import SpecContext, SpecError, SpecIssue, compose, read_text, suggest
from runtime.errors import ConfigError

DEFAULT_CONFIG = Path("castiel.yaml")
SECTIONS = ("version", "sources", "alerts", "oncall", "baseline")
"""Top-level keys of castiel.yaml. `alerts` is parsed by alerts.config, `oncall` by
budgets.export.config (their own commands); `baseline` here."""


class ProjectConfigError(SpecError, ConfigError):
    """Problems in castiel.yaml outside any section's own loader; exit 2."""


@dataclass(frozen=True)
class ProjectConfig:
    path: str = ""
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    baseline: MatchPolicy = field(default_factory=MatchPolicy)
    found: bool = False
    """False when there was no castiel.yaml (every section then has its defaults)."""
    sections: frozenset[str] = frozenset()
    """The top-level keys the file has: a section parsed by its own command (alerts) is read
    only when present."""


def parse_project_config(
    text: str, filename: str = "castiel.yaml", env: Mapping[str, str] | None = None
) -> ProjectConfig:
    """Raises a ConfigError (SourcesConfigError, ProjectConfigError) with file:line:column."""
    sections = _check_top_level(text, filename)
    sources = parse_sources(text, filename, os.environ if env is None else env)
    baseline = parse_baseline_section(text, filename)
    return ProjectConfig(filename, sources, baseline, found=True, sections=sections)


def _check_top_level(text: str, filename: str) -> frozenset[str]:
    """The section names; an unknown one is an error."""
    root, problem = compose(text, filename)
    if root is None or problem is not None:
        return frozenset()  # empty, or parse_sources reports the YAML problem
    ctx = SpecContext(filename)
    if not isinstance(root, MappingNode):
        raise ProjectConfigError([ctx.issue(root, "", "expected a mapping of sections")])
    for knode, _ in root.value:
        name = knode.value if isinstance(knode, ScalarNode) else None
        if name not in SECTIONS:
            hint = suggest(str(name), SECTIONS, "sections")
            ctx.error(knode, str(name), f"unknown section {name!r} ({hint})")
    if ctx.issues:
        raise ProjectConfigError(ctx.issues)
    return frozenset(k.value for k, _ in root.value if isinstance(k, ScalarNode))


def load_project_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> ProjectConfig:
    """`path=None`: ./castiel.yaml if it exists, else an empty config. A named file must
    exist."""
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            return ProjectConfig()
        path = DEFAULT_CONFIG
    p = Path(path)
    text = read_text(p)
    if isinstance(text, SpecIssue):
        raise SourcesConfigError([text])
    return parse_project_config(text, str(p), env)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` on a command; safe to call twice (several features read castiel.yaml)."""
    # argparse has no public way to ask whether an option exists.
    if "--config" in parser._option_string_actions:
        return
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="project config (default: ./castiel.yaml when it exists)",
    )
