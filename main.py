"""Cloud Run function entry points (functions-framework, CloudEvent signature).

A thin adapter: hand the event to `handlers` or the sweep, with the instance's context
(keeper/runtime/context.py, built on first use). Return acknowledges; an exception asks Pub/Sub
to redeliver (and, after the maximum delivery attempts, to dead-letter). Only what can never
succeed is acknowledged (docs/design.md, Failure behaviour); `handlers` and the sweep log
every failure.

The configuration is validated when the instance starts. No credentials, no network here.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from handlers import dispatch
from keeper.runtime.context import LazyContext, start_instance

start_instance()
instance_context = LazyContext()


@functions_framework.cloud_event
def on_workspace_event(cloud_event: Any) -> None:
    """Pub/Sub trigger: every event of the app's topic, lifecycle or not."""
    dispatch(cloud_event.data, instance_context)


@functions_framework.cloud_event
def on_sweep(cloud_event: Any) -> None:
    """A scheduled sweep tick (data empty or {"dryRun": true}) or a shard of due work the
    tick fanned out ({"shard": {...}}, see keeper/sweep/fanout.py)."""
    from keeper.sweep.run import sweep_from_message  # noqa: PLC0415

    sweep_from_message(cloud_event.data, instance_context)
