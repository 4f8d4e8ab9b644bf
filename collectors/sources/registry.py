"""Every kind of source `sources:` in castiel.yaml accepts, in the order they are built and
checked (Redis first: the scrape source discovers endpoints through its client). A new kind
is a module of this package defining one `SourceKind`, and one line here (docs/development.md,
"A new source")."""

from __future__ import annotations

from typing import Any

from collectors.sources.azure import AZURE
from collectors.sources.base import SourceKind
from collectors.sources.prometheus import PROMETHEUS
from collectors.sources.redis import REDIS
from collectors.sources.scrape import SCRAPE

SOURCES: tuple[SourceKind[Any], ...] = (
    REDIS,
    SCRAPE,
    PROMETHEUS,
    AZURE,
)
