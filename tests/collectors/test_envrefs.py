"""The one `${VAR}` / `${VAR:-default}` grammar, as castiel.yaml's sources and the alerts
config's secrets both read it."""

from __future__ import annotations

import pytest

from alerts.secrets import MissingSecret, Secret
from collectors.envrefs import Ref, UnsetVariable, expand, references, unset
from collectors.sources import SCRAPE, SourcesConfigError, parse_sources


def test_the_grammar() -> None:
    text = "https://${HOST:-example.com}/x/${TOKEN}?a=${A:-}"
    assert references(text) == (Ref("HOST", "example.com"), Ref("TOKEN"), Ref("A", ""))
    assert expand(text, {"TOKEN": "t"}) == "https://example.com/x/t?a="
    assert expand(text, {"TOKEN": "t", "HOST": "h", "A": "1"}) == "https://h/x/t?a=1"
    assert expand(text, {"TOKEN": "t", "HOST": ""}) == "https://example.com/x/t?a="  # POSIX :-
    assert expand("$HOME and ${not valid}", {}) == "$HOME and ${not valid}"  # kept as written
    with pytest.raises(UnsetVariable, match=r"^environment variable \$TOKEN is not set$"):
        expand(text, {})
    assert expand("${EMPTY}", {"EMPTY": ""}) == ""
    assert unset("${EMPTY}", {"EMPTY": ""}, empty_is_unset=True) == ("EMPTY",)


def test_sources_and_secrets_read_it_the_same_way() -> None:
    env = {"PD_KEY": "k3y-from-env"}
    assert Secret("${PD_KEY}").reveal(env) == "k3y-from-env"
    assert Secret("${OTHER:-fallback-key}").reveal(env) == "fallback-key"
    with pytest.raises(MissingSecret, match=r"\$PD_KEY"):
        Secret("${PD_KEY}").reveal({"PD_KEY": ""})  # a secret cannot be empty
    cfg = parse_sources(
        "sources:\n  scrape:\n    endpoints: ['${SCRAPE:-http://127.0.0.1:9/metrics}']\n",
        "castiel.yaml",
        {},
    )
    scrape = cfg.get(SCRAPE)
    assert scrape is not None and scrape.endpoints == ("http://127.0.0.1:9/metrics",)
    with pytest.raises(SourcesConfigError, match=r"castiel.yaml:3:.*\$SCRAPE is not set"):
        parse_sources("sources:\n  scrape:\n    endpoints: ['${SCRAPE}']\n", "castiel.yaml", {})
