"""castiel.yaml's `baseline:` section: how "last passing" chooses (budgets.baseline_select).

    baseline:
      match: [scenario, users, peak_multiplier, duration, locustfile, target, budgets]
      default_branch: main     # null: never fall back to another branch

`--baseline-match` and `--baseline-branch` on `castiel run` / `castiel check` override it.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode

from budgets.baseline_select import MATCH_FIELDS, MatchPolicy, parse_match
from collectors.yamlspec import SpecContext, SpecError, compose
from runtime.errors import ConfigError


class BaselineConfigError(SpecError, ConfigError):
    """A mistake in castiel.yaml's `baseline:` section (exit 2)."""


def parse_baseline_section(text: str, filename: str = "castiel.yaml") -> MatchPolicy:
    """The policy the file sets (defaults for what it leaves out, or with no section)."""
    root, problem = compose(text, filename)
    if root is None or problem is not None or not isinstance(root, MappingNode):
        return MatchPolicy()  # castiel.config reports what is wrong with the file itself
    node = next(
        (v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "baseline"), None
    )
    if node is None:
        return MatchPolicy()
    ctx = SpecContext(filename)
    policy = _section(ctx, node)
    if ctx.issues or policy is None:
        raise BaselineConfigError(ctx.issues)
    return policy


def _section(ctx: SpecContext, node: Node) -> MatchPolicy | None:
    m = ctx.guard(ctx.mapping, node, "baseline", ("match", "default_branch"))
    if m is None:
        return None
    policy = MatchPolicy()
    if "match" in m:
        names = ctx.guard(ctx.texts, m["match"][1], "baseline.match")
        if names is not None:
            fields = ctx.guard(
                ctx.attempt,
                m["match"][1],
                "baseline.match",
                lambda: parse_match(",".join(names)),
                f"fields: {', '.join(MATCH_FIELDS)}",
            )
            if fields is not None:
                policy = MatchPolicy(fields, policy.default_branch)
    if "default_branch" in m:
        vnode = m["default_branch"][1]
        value = ctx.guard(ctx.scalar, vnode, "baseline.default_branch")
        if value is not None and not isinstance(value, str):
            ctx.error(vnode, "baseline.default_branch", "expected a branch name (or null)")
        policy = MatchPolicy(policy.fields, value if isinstance(value, str) else None)
    return policy
