"""The instance's one Pub/Sub publisher, behind every port that publishes or reads a topic:
alerts, notices, replayed events, sweep shards and the endpoint checks. The client is built on
first use (an ignored event never pays for it) and shared: one connection pool per instance."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keeper.domain.notices import Notice
from keeper.engine.alerts import Alert
from keeper.engine.endpoint import PUBLISHER_ROLE, EndpointStatus, Grant

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 60


def publisher_client() -> Any:
    """Batched, with message ordering (replays publish under Google's ordering key)."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # noqa: PLC0415

    return pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=1000),
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )


class PubSub:
    """EndpointInspector, EventSink and ShardPublisher on google-cloud-pubsub."""

    def __init__(self, client_factory: Callable[[], Any] = publisher_client) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def publish(self, topic: str, data: bytes, **attributes: str) -> None:
        """Publish one message and wait for the server's acknowledgement: what the caller
        records next (an alert noted, a shard handed out) must not be lost."""
        self.client().publish(topic, data, **attributes).result(timeout=PUBLISH_TIMEOUT_SECONDS)

    def publish_all(
        self, topic: str, ordering_key: str, messages: Sequence[tuple[bytes, Mapping[str, str]]]
    ) -> None:
        """Publish in order under `ordering_key`; return once every one is acknowledged."""
        client = self.client()
        futures = [
            client.publish(topic, data, ordering_key=ordering_key, **attributes)
            for data, attributes in messages
        ]
        try:
            for future in futures:
                future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except Exception:
            # A failed publish pauses its ordering key; the next run starts it again.
            client.resume_publish(topic, ordering_key)
            raise

    def inspect(self, topic: str, member: str) -> EndpointStatus:
        from google.api_core import exceptions  # noqa: PLC0415

        client = self.client()
        try:
            client.get_topic(request={"topic": topic})
        except exceptions.NotFound:
            return EndpointStatus(topic_exists=False, publisher=Grant.MISSING)
        try:
            policy = client.get_iam_policy(request={"resource": topic})
        except (exceptions.MethodNotImplemented, exceptions.PermissionDenied) as error:
            log.warning("cannot read the IAM policy of %s: %s", topic, type(error).__name__)
            return EndpointStatus(topic_exists=True, publisher=Grant.UNKNOWN)
        wanted = f"serviceAccount:{member}"
        granted = any(
            binding.role == PUBLISHER_ROLE and wanted in binding.members
            for binding in policy.bindings
        )
        return EndpointStatus(True, Grant.GRANTED if granted else Grant.MISSING)

    def grant_publisher(self, topic: str, member: str) -> None:
        client = self.client()
        policy = client.get_iam_policy(request={"resource": topic})
        wanted = f"serviceAccount:{member}"
        for binding in policy.bindings:
            if binding.role == PUBLISHER_ROLE:
                if wanted not in binding.members:
                    binding.members.append(wanted)
                break
        else:
            policy.bindings.add(role=PUBLISHER_ROLE, members=[wanted])
        # The policy's etag makes this a read-modify-write that fails rather than overwrites.
        client.set_iam_policy(request={"resource": topic, "policy": policy})


class PubSubAlerts:
    """AlertSink: alerts to the operators' topic, through the instance's publisher."""

    def __init__(self, topic: str, pubsub: PubSub) -> None:
        self.topic = topic
        self._pubsub = pubsub

    def publish(self, alert: Alert) -> None:
        self._pubsub.publish(self.topic, alert.to_json(), kind=alert.kind, key=alert.key)


class PubSubNotices:
    """NoticeSink: notices to the app's topic as binary CloudEvents (docs/design.md, Notices),
    through the instance's publisher."""

    def __init__(self, topic: str, pubsub: PubSub) -> None:
        self.topic = topic
        self._pubsub = pubsub

    def publish(self, notice: Notice) -> None:
        attributes = {
            "ce-specversion": "1.0",
            "ce-id": notice.id,
            "ce-type": notice.type,
            "ce-source": "//pubsub.googleapis.com/" + self.topic,
            "ce-subject": notice.subject,
            "ce-time": notice.time.isoformat(),
            "ce-datacontenttype": "application/json",
        }
        self._pubsub.publish(self.topic, json.dumps(notice.data).encode(), **attributes)
