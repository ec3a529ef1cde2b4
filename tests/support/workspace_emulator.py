"""Fixtures for the Workspace Events API emulator (`python -m emulator`) and Pub/Sub helpers.

`workspace_emulator` gives a test a freshly reset emulator (`.url`, `.control`) that publishes
lifecycle events into the session's real Pub/Sub emulator (`pubsub_emulator_host`).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.processes import ManagedProcess, StackError, start_workspace_emulator
from devstack.stack import pubsub_rest
from emulator.control import EmulatorControl
from tests.support.gcloud_emulators import LOG_DIR

EMULATOR_PROJECT = "emulator-test-project"
READY_LINE_PREFIX = "Workspace Events API emulator listening on http://"
ALICE = "emulator:delegated:alice@example.com"
BOB = "emulator:delegated:bob@example.com"
APP = "emulator:app"
MESSAGE_CREATED = "google.workspace.chat.message.v1.created"


class PubSubRest:
    """The few Pub/Sub emulator REST calls tests need: topics, pull subscriptions, pull."""

    def __init__(self, host: str) -> None:
        self.host = host

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return pubsub_rest(self.host, method, path, body)

    def create_topic(self, topic: str) -> None:
        self._call("PUT", topic, {})

    def delete_topic(self, topic: str) -> None:
        self._call("DELETE", topic)

    def create_subscription(self, topic: str) -> str:
        """A pull subscription on `topic`, with message ordering like production's."""
        project = topic.split("/")[1]
        name = f"projects/{project}/subscriptions/pull-{uuid.uuid4().hex[:10]}"
        self._call("PUT", name, {"topic": topic, "enableMessageOrdering": True})
        return name

    def pull(self, subscription: str, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Pull and acknowledge until `expected` messages arrived (or the timeout passed)."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            reply = self._call(
                "POST", f"{subscription}:pull", {"maxMessages": 100, "returnImmediately": True}
            )
            received = reply.get("receivedMessages", [])
            if received:
                self._call(
                    "POST",
                    f"{subscription}:acknowledge",
                    {"ackIds": [item["ackId"] for item in received]},
                )
                messages.extend(item["message"] for item in received)
            else:
                time.sleep(0.1)
        return messages


def subscription_body(
    topic: str,
    *,
    target: str | None = None,
    event_types: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "targetResource": target or f"//chat.googleapis.com/spaces/{uuid.uuid4().hex[:11]}",
        "eventTypes": event_types or [MESSAGE_CREATED],
        "notificationEndpoint": {"pubsubTopic": topic},
        **extra,
    }


def google_client(
    url: str, token: str = ALICE, api: str = "workspaceevents", version: str = "v1"
) -> Any:
    """Google's own client of `api` `version` (the bundled discovery document) at the
    emulator."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    return build(
        api,
        version,
        static_discovery=True,
        credentials=Credentials(token=token),
        client_options={"api_endpoint": url},
    )


def decode_data(message: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(message["data"]))


@dataclass(frozen=True)
class WorkspaceEmulator:
    url: str
    control: EmulatorControl
    pubsub: PubSubRest
    project: str

    def call(
        self,
        http_method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = ALICE,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One raw API request: (HTTP status, parsed JSON answer)."""
        url = self.url.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=http_method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def create(self, topic: str, *, token: str = ALICE, **fields: Any) -> dict[str, Any]:
        """Create a subscription (defaults: a Chat space, message.created); return it as get
        would (the operation's response without its `@type`)."""
        status, operation = self.call(
            "POST", "/v1/subscriptions", body=subscription_body(topic, **fields), token=token
        )
        assert status == 200, operation
        return {k: v for k, v in operation["response"].items() if k != "@type"}

    def new_topic(self) -> tuple[str, str]:
        """A fresh topic and a pull subscription on it: (topic, subscription)."""
        topic = f"projects/{self.project}/topics/t-{uuid.uuid4().hex[:10]}"
        self.pubsub.create_topic(topic)
        return topic, self.pubsub.create_subscription(topic)


@pytest.fixture(scope="session")
def workspace_emulator_process(pubsub_emulator_host: str) -> Iterator[ManagedProcess]:
    env = {"PUBSUB_EMULATOR_HOST": pubsub_emulator_host, "GOOGLE_CLOUD_PROJECT": EMULATOR_PROJECT}
    try:
        process = start_workspace_emulator(LOG_DIR, env)
    except (StackError, OSError) as error:
        pytest.fail(f"the Workspace Events API emulator could not start: {error}")
    yield process
    process.stop()


@pytest.fixture
def workspace_emulator(
    workspace_emulator_process: ManagedProcess, pubsub_emulator_host: str
) -> WorkspaceEmulator:
    """The session's emulator, reset for this test."""
    control = EmulatorControl(workspace_emulator_process.url)
    control.reset()
    return WorkspaceEmulator(
        url=workspace_emulator_process.url,
        control=control,
        pubsub=PubSubRest(pubsub_emulator_host),
        project=EMULATOR_PROJECT,
    )
