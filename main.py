"""Cloud Run function entry points (functions-framework, CloudEvent signature).

A thin adapter: hand the event to `handlers` or the sweep. Return acknowledges; an exception
asks Pub/Sub to redeliver (and, after the maximum delivery attempts, to dead-letter). Only what
can never succeed is acknowledged (DESIGN.md); `handlers` and the sweep log every failure.

The configuration is validated when the instance starts: a bad deploy fails to start, with the
variable named, instead of dropping events one at a time. No credentials, no network here.
"""

from __future__ import annotations

import logging
from typing import Any

import functions_framework

from handlers import dispatch
from keeper import logs
from keeper.config import Config, ConfigError

logs.configure()
log = logging.getLogger("keeper")

try:
    Config.from_env()
except ConfigError as error:
    log.critical("invalid configuration, the instance cannot start: %s", error)
    raise


def _runtime_context() -> Any:
    from keeper.runtime import context  # noqa: PLC0415  (clients load on first use)

    return context()


@functions_framework.cloud_event
def on_workspace_event(cloud_event: Any) -> None:
    """Pub/Sub trigger: every event of the app's topic, lifecycle or not."""
    dispatch(cloud_event.data, _runtime_context)


@functions_framework.cloud_event
def on_sweep(cloud_event: Any) -> None:
    """A scheduled sweep tick (data empty or {"dryRun": true}) or a shard of due work the
    tick fanned out ({"shard": {...}}, see keeper/fanout.py)."""
    from keeper.sweep import sweep_from_message  # noqa: PLC0415

    try:
        sweep_from_message(cloud_event.data, _runtime_context())
    except Exception as error:
        logs.log_failure(log, "sweep", error, action="sweep", outcome="failed")
        raise
