"""The composition root: the per-instance context, its clients built lazily, once, on the first
event that needs them.

`import main` must work with no credentials and no network, and an ignored event must never
pay for a Firestore or API client, so nothing here runs at import time. `build` takes what the
product's entry points and the local stack (devstack/function.py) wire differently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from keeper.domain.clock import Clock, system_clock
from keeper.runtime import logs
from keeper.runtime.config import Config, ConfigError

if TYPE_CHECKING:
    from keeper.engine.ports import Context


def start_instance() -> None:
    """What an instance does when it starts: JSON logs, and the configuration validated, so a
    bad deploy fails to start with the variable named instead of dropping events one at a
    time."""
    logs.configure()
    try:
        Config.from_env()
    except ConfigError as error:
        logging.getLogger("keeper").critical(
            "invalid configuration, the instance cannot start: %s", error
        )
        raise


def build(config: Config, clock: Clock = system_clock) -> Context:
    """The context of one instance: Firestore, one Pub/Sub publisher behind every port that
    publishes, the API clients per subscription."""
    # Imported here, on the first lifecycle event: `import main` stays light (see above).
    from google.cloud import firestore  # noqa: PLC0415

    from keeper.engine.direct_messages import APP_SCOPES, DirectMessages  # noqa: PLC0415
    from keeper.engine.ports import Context, NoticeSink, NoticeSinks  # noqa: PLC0415
    from keeper.engine.pubsub import PubSub, PubSubAlerts, PubSubNotices  # noqa: PLC0415
    from keeper.store.firestore import FirestoreStore  # noqa: PLC0415
    from workspace_client.client import PollPolicy  # noqa: PLC0415
    from workspace_client.credentials import ClientFactory, CredentialsProvider  # noqa: PLC0415

    provider = CredentialsProvider.from_environ(
        mode=config.credentials, endpoint=config.api_endpoint
    )
    clients = ClientFactory(
        provider,
        polling=PollPolicy(timeout=float(config.operation_deadline_seconds)),
        chat_endpoint=config.chat_api_endpoint,
        meet_endpoint=config.meet_api_endpoint,
        drive_activity_endpoint=config.drive_activity_api_endpoint,
    )
    paced = clients.paced()
    pubsub = PubSub()
    notices: list[NoticeSink] = []
    if config.notices_topic:
        notices.append(PubSubNotices(config.notices_topic, pubsub))
    if config.direct_messages:
        notices.append(DirectMessages(lambda: clients.chat_with_scopes("app", APP_SCOPES)))
    return Context(
        store=FirestoreStore(
            firestore.Client(project=config.project),
            config.collection_prefix,
            config.ledger_ttl_days,
        ),
        client_for=clients.clients_for,
        paced_client_for=paced.clients_for,
        endpoints=pubsub,
        clock=clock,
        config=config,
        alerts=PubSubAlerts(config.alerts_topic, pubsub) if config.alerts_topic else None,
        notices=NoticeSinks(tuple(notices)) if notices else None,
        # Replays pace their reads and own their 429s (Pacer.call): clients that raise them.
        chat_for=paced.chat_for,
        meet_for=paced.meet_for,
        drive_activity_for=paced.drive_activity_for,
        events=pubsub,
        shards=pubsub if config.sweep_topic else None,
    )


class LazyContext:
    """The instance's context, built on first use from the environment, then kept for the
    instance's life. Thread-safe: functions-framework serves requests concurrently."""

    def __init__(self, build: Callable[[Config], Context] = build) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._built: Context | None = None

    def __call__(self) -> Context:
        with self._lock:
            if self._built is None:
                self._built = self._build(Config.from_env())
            return self._built
