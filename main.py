"""Cloud Run function entry points (functions-framework, CloudEvent signature).

A thin adapter: hand the event to `handlers` or the sweep, map the outcome to acknowledge
(return) or redeliver (raise). Only transient failures raise; see keeper.errors.
"""

from __future__ import annotations

import logging
from typing import Any

import functions_framework

from handlers import dispatch
from keeper import logs
from keeper.errors import is_transient

logs.configure()
log = logging.getLogger("keeper")


def _runtime_context() -> Any:
    from keeper.runtime import context  # noqa: PLC0415  (clients load on first use)

    return context()


@functions_framework.cloud_event
def on_workspace_event(cloud_event: Any) -> None:
    """Pub/Sub trigger: every event of the app's topic, lifecycle or not."""
    try:
        dispatch(cloud_event.data, _runtime_context)
    except Exception as error:
        if is_transient(error):
            log.warning("transient failure, redelivery requested: %r", error)
            raise
        # A bug or a permanent failure: redelivering would loop for days. Keep the evidence.
        log.exception("permanent failure, acknowledged")


@functions_framework.cloud_event
def on_sweep(cloud_event: Any) -> None:
    """A scheduled sweep tick (data empty or {"dryRun": true}) or a shard of due work the
    tick fanned out ({"shard": {...}}, see keeper/fanout.py)."""
    from keeper.sweep import sweep_from_message  # noqa: PLC0415

    try:
        sweep_from_message(cloud_event.data, _runtime_context())
    except Exception as error:
        if is_transient(error):
            raise
        log.exception("sweep failed")
