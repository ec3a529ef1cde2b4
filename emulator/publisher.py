"""Publishing to the Pub/Sub emulator through its REST API (no gRPC: the emulator stays light)."""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import Enum
from typing import Any

_LOG = logging.getLogger(__name__)
_TIMEOUT_SECONDS = 10.0


class Outcome(Enum):
    PUBLISHED = "published"
    TOPIC_NOT_FOUND = "topic_not_found"
    NO_PUBSUB = "no_pubsub"  # PUBSUB_EMULATOR_HOST is not set: the event is only logged
    FAILED = "failed"


@dataclass(frozen=True)
class PublishResult:
    outcome: Outcome
    message_id: str | None = None


class PubSubPublisher:
    """Publishes to `projects/P/topics/T` on the emulator at `host` ("127.0.0.1:PORT")."""

    def __init__(self, host: str | None) -> None:
        self.host = host

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            f"http://{self.host}/v1/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            return json.loads(response.read() or b"{}")

    def publish(
        self, topic: str, data: bytes, attributes: dict[str, str], ordering_key: str
    ) -> PublishResult:
        if not self.host:
            return PublishResult(Outcome.NO_PUBSUB)
        message = {
            "data": base64.b64encode(data).decode("ascii"),
            "attributes": attributes,
            "orderingKey": ordering_key,
        }
        try:
            reply = self._call("POST", f"{topic}:publish", {"messages": [message]})
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return PublishResult(Outcome.TOPIC_NOT_FOUND)
            _LOG.warning("publishing to %s failed with HTTP %s", topic, error.code)
            return PublishResult(Outcome.FAILED)
        except (urllib.error.URLError, OSError) as error:
            _LOG.warning("publishing to %s failed: %s", topic, error)
            return PublishResult(Outcome.FAILED)
        return PublishResult(Outcome.PUBLISHED, reply.get("messageIds", [None])[0])

    def topic_exists(self, topic: str) -> bool | None:
        """Whether the topic exists (False if the emulator can't tell); None without Pub/Sub."""
        if not self.host:
            return None
        try:
            self._call("GET", topic)
        except (urllib.error.URLError, OSError) as error:
            if not (isinstance(error, urllib.error.HTTPError) and error.code == 404):
                _LOG.warning("could not look up topic %s: %s", topic, error)
            return False
        return True
