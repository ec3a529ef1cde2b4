"""The per-instance context: clients built lazily, once, on the first event that needs them.

`import main` must work with no credentials and no network, and an ignored event must never
pay for a Firestore or API client, so nothing here runs at import time.
"""

from __future__ import annotations

import functools
import threading

from keeper.alerts import PubSubAlerts
from keeper.clock import EmulatorClock, system_clock
from keeper.config import Config
from keeper.endpoint import PubSubEndpoints
from keeper.engine import Context
from keeper.replay import PubSubEvents
from keeper.store import FirestoreStore

_lock = threading.Lock()


@functools.cache
def _build(config: Config, follow_emulator_clock: bool) -> Context:
    from google.cloud import firestore  # noqa: PLC0415  (heavy; first lifecycle event only)

    from workspace_client.client import PollPolicy  # noqa: PLC0415
    from workspace_client.credentials import ClientFactory, CredentialsProvider  # noqa: PLC0415

    provider = CredentialsProvider.from_environ(
        mode=config.credentials, endpoint=config.api_endpoint
    )
    clients = ClientFactory(
        provider,
        polling=PollPolicy(timeout=float(config.operation_deadline_seconds)),
        chat_endpoint=config.chat_api_endpoint,
    )
    return Context(
        store=FirestoreStore(
            firestore.Client(project=config.project),
            config.collection_prefix,
            config.ledger_ttl_days,
        ),
        client_for=clients.clients_for,
        endpoints=PubSubEndpoints(),
        clock=EmulatorClock(config.api_endpoint) if follow_emulator_clock else system_clock,
        config=config,
        alerts=PubSubAlerts(config.alerts_topic) if config.alerts_topic else None,
        chat_for=clients.chat_for,
        events=PubSubEvents(),
    )


def context() -> Context:
    """The instance's context (thread-safe; functions-framework serves requests concurrently)."""
    config = Config.from_env()
    with _lock:
        return _build(config, config.follow_emulator_clock)
