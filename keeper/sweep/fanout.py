"""Sweep messages on Pub/Sub: the scheduled tick, and the shards of due work the sweep fans
out when one invocation cannot do it all (KEEPER_SWEEP_TOPIC), so the platform spreads the
work across function instances.

Message data (JSON): empty or `{"dryRun": true}` for a tick; `{"shard": {"keys": [...],
"quotaShare": 0.25}}` for a shard: sweep exactly those managed subscriptions, pacing at that
share of the project quota so that all shards together stay under it.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from keeper.sweep.plan import Shard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepRequest:
    dry_run: bool = False
    shard: Shard | None = None


def encode_shard(shard: Shard) -> bytes:
    body = {"shard": {"keys": list(shard.keys), "quotaShare": shard.quota_share}}
    return json.dumps(body, separators=(",", ":")).encode()


def parse_request(data: Any) -> SweepRequest:
    """The sweep request in a Pub/Sub CloudEvent's data; anything unreadable is a plain tick
    (the sweep is safe to run at any time, a lost shard is found again by the next tick)."""
    message = data.get("message", {}) if isinstance(data, dict) else {}
    raw = message.get("data") if isinstance(message, dict) else None
    if not raw:
        return SweepRequest()
    try:
        body = json.loads(base64.b64decode(raw))
    except ValueError:
        log.warning("sweep message data is not JSON; running a normal sweep")
        return SweepRequest()
    if not isinstance(body, dict):
        return SweepRequest()
    return SweepRequest(dry_run=body.get("dryRun") is True, shard=_shard(body.get("shard")))


def _shard(value: Any) -> Shard | None:
    if not isinstance(value, dict):
        return None
    keys, share = value.get("keys"), value.get("quotaShare")
    if (
        not isinstance(keys, list)
        or not all(isinstance(key, str) for key in keys)
        or not isinstance(share, int | float)
        or not 0 < share <= 1
    ):
        log.warning("malformed sweep shard; running a normal sweep")
        return None
    return Shard(tuple(keys), float(share))
