"""Start-up checks that protect jobs from a misconfigured Redis server."""

from __future__ import annotations

import logging
import os
from typing import Any

from redis.exceptions import ResponseError

from runtime.errors import EvictionPolicyError

log = logging.getLogger("castiel.runtime")

ALLOW_EVICTION_ENV = "CASTIEL_ALLOW_EVICTION"
# Queue keys carry no TTL, so volatile-* policies never evict them; allkeys-* may.
_UNSAFE_PREFIX = "allkeys-"


def eviction_allowed_by_env() -> bool:
    return os.environ.get(ALLOW_EVICTION_ENV, "").lower() in ("1", "true", "yes")


def judge_policies(policies: dict[str, str], allow_eviction: bool) -> None:
    """Raise EvictionPolicyError when any node may evict queue keys, unless allowed."""
    unsafe = {node: p for node, p in policies.items() if p.startswith(_UNSAFE_PREFIX)}
    if not unsafe or allow_eviction or eviction_allowed_by_env():
        return
    detail = ", ".join(f"{node}: {p}" for node, p in sorted(unsafe.items()))
    raise EvictionPolicyError(
        f"Redis maxmemory-policy may evict queue keys and silently drop jobs ({detail}). "
        "Set `maxmemory-policy noeviction` (or a volatile-* policy) on the server, or pass "
        f"allow_eviction=True / set {ALLOW_EVICTION_ENV}=1 if you accept losing jobs."
    )


def _policies_from_reply(reply: Any) -> dict[str, str]:
    """CONFIG GET answers {name: value} standalone, {node: {name: value}} on a cluster."""
    out: dict[str, str] = {}
    if not isinstance(reply, dict):
        return out
    for key, value in reply.items():
        k = key.decode() if isinstance(key, bytes) else str(key)
        if isinstance(value, dict):
            for name, v in value.items():
                if (name.decode() if isinstance(name, bytes) else name) == "maxmemory-policy":
                    out[k] = v.decode() if isinstance(v, bytes) else str(v)
        elif k == "maxmemory-policy":
            out["server"] = value.decode() if isinstance(value, bytes) else str(value)
    return out


def check_eviction_policy(client: Any, allow_eviction: bool = False) -> None:
    """Sync check; CONFIG may be disabled on managed Redis, which we log and accept."""
    try:
        reply = client.config_get("maxmemory-policy")
    except ResponseError as exc:
        log.warning("cannot read maxmemory-policy (%s); make sure it is noeviction", exc)
        return
    judge_policies(_policies_from_reply(reply), allow_eviction)


async def check_eviction_policy_async(client: Any, allow_eviction: bool = False) -> None:
    try:
        reply = await client.config_get("maxmemory-policy")
    except ResponseError as exc:
        log.warning("cannot read maxmemory-policy (%s); make sure it is noeviction", exc)
        return
    judge_policies(_policies_from_reply(reply), allow_eviction)
