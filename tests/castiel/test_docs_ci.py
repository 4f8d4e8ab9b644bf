"""docs/ci.md's workflows are YAML that parses, and every `castiel ...` line in them is a
command line this `castiel` accepts (its subcommand and every flag), so the documented CI
setup cannot rot silently. Its castiel.yaml example is a valid `baseline:` section."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from budgets.baseline_config import parse_baseline_section
from castiel.cli import build_parser
from tests.helpers import ROOT

DOC = ROOT / "docs" / "ci.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def castiel_lines(doc: Any) -> Iterator[str]:
    """Shell lines (continuations joined) of every script that start with `castiel`."""
    for text in strings(doc):
        for line in re.sub(r"\\\n\s*", " ", text).splitlines():
            if line.strip().startswith("castiel "):
                yield line.strip()


# What a CI runner's environment would hold, so the typed arguments see real values.
CI_ENVIRONMENT = {
    "REDIS_URL": "redis://redis:6379/0",
    "BASELINE": "baseline.castiel.jsonl.gz",
    "CI_DEFAULT_BRANCH": "main",
}


def argv_of(line: str) -> list[str]:
    """The words of a shell line up to its first control operator (`&`, `&&`, `|`, `;`...),
    with the CI variables it names expanded."""
    line = re.sub(r"\$(\w+)", lambda m: CI_ENVIRONMENT.get(m[1], m[0]), line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word and set(word) <= set("&|;<>()"):
            break
        words.append(word)
    return words


def workflows() -> list[dict[Any, Any]]:
    docs = [yaml.safe_load(block) for block in BLOCKS]
    assert all(isinstance(d, dict) for d in docs)
    return [d for d in docs if "baseline" not in d]


def test_there_are_the_three_promised_workflows() -> None:
    flows = workflows()
    github = [f for f in flows if "jobs" in f]
    gitlab = [f for f in flows if any(isinstance(j, dict) and "script" in j for j in f.values())]
    assert len(github) == 2 and len(gitlab) == 1
    for flow in github:
        for job in flow["jobs"].values():
            assert all("uses" in step or "run" in step for step in job["steps"])
    lines = [line for flow in flows for line in castiel_lines(flow)]
    commands = {" ".join(argv_of(line)[1:3]) for line in lines}
    assert {"runs export"} <= commands and any(c.startswith("run --target") for c in commands)
    assert any("--store postgresql://" in line for line in lines)
    assert sum("--baseline" in line for line in lines) == 3


@pytest.mark.parametrize(
    "line", sorted({line for flow in workflows() for line in castiel_lines(flow)})
)
def test_every_castiel_command_line_parses(line: str) -> None:
    argv = argv_of(line)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"castiel rejects the documented command {line!r} (exit {exc.code})")
    assert callable(args.handler)


def test_the_castiel_yaml_example_is_valid() -> None:
    (example,) = [b for b in BLOCKS if b.startswith("baseline:")]
    policy = parse_baseline_section(example)
    assert policy.fields == ("scenario", "users", "duration", "locustfile", "target")
    assert policy.default_branch == "main"
