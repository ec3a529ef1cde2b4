"""The keeper on the real local stack, for functional and integration tests.

Lifecycle events travel the production path: the Workspace Events API emulator publishes them
to a topic on the Pub/Sub emulator; the test pulls them from a subscription and delivers each
as the raw Pub/Sub push body to the function (functions-framework's test client), which
converts it into the Eventarc CloudEvent exactly as in production.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import functions_framework
import pytest
from google.cloud import firestore

from devstack.context import local_context
from devstack.stack import pubsub_rest as rest
from keeper.domain.models import ManagedSubscription
from keeper.operator.cli import main as cli_main
from tests.support.ledger import LedgerFirestoreStore

CHAT_MESSAGE_CREATED = "google.workspace.chat.message.v1.created"
WRITE_METHODS = {
    "subscriptions.create",
    "subscriptions.patch",
    "subscriptions.reactivate",
    "subscriptions.delete",
}


@dataclass
class KeeperStack:
    project: str
    topic: str
    pubsub_host: str
    emulator: Any  # tests.support.workspace_emulator fixture object: .url, .control
    store: LedgerFirestoreStore
    client: Any  # flask test client of main.on_workspace_event
    casing: str = "snake"  # the emulator's lifecycle payload casing (its default)

    @property
    def control(self) -> Any:
        return self.emulator.control

    def register(
        self,
        target: str = "//chat.googleapis.com/spaces/AAAA",
        auth: str = "delegated:alice@example.com",
        *extra: str,
    ) -> ManagedSubscription:
        args = [
            "register",
            "--target",
            target,
            "--event-type",
            CHAT_MESSAGE_CREATED,
            "--topic",
            self.topic,
            "--auth",
            auth,
            *extra,
        ]
        assert cli_main(args, context=local_context) == 0
        return self.managed_by_target(target)

    def managed_by_target(self, target: str) -> ManagedSubscription:
        return next(s for s in self.store.all() if s.target_resource == target)

    def record(self, key: str) -> ManagedSubscription:
        found = self.store.get(key)
        assert found is not None
        return found.sub

    def pull(self, subscription: str = "keeper-test") -> list[dict[str, Any]]:
        """Every message published so far to the events (or another) subscription, acked."""
        messages: list[dict[str, Any]] = []
        while True:
            pulled = rest(
                self.pubsub_host,
                "POST",
                f"projects/{self.project}/subscriptions/{subscription}:pull",
                {"maxMessages": 100, "returnImmediately": True},
            )
            received = pulled.get("receivedMessages", [])
            if not received:
                return messages
            rest(
                self.pubsub_host,
                "POST",
                f"projects/{self.project}/subscriptions/{subscription}:acknowledge",
                {"ackIds": [m["ackId"] for m in received]},
            )
            messages += [m["message"] for m in received]

    def notices(self) -> list[dict[str, Any]]:
        """The notices the app received since the last call: attributes and data."""
        return [
            {"attributes": m["attributes"], "data": json.loads(base64.b64decode(m["data"]))}
            for m in self.pull("keeper-notices")
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts published so far, decoded."""
        return [json.loads(base64.b64decode(m["data"])) for m in self.pull("keeper-alerts")]

    def push(self, message: dict[str, Any]) -> Any:
        """Deliver one message as Pub/Sub push does; returns the HTTP response."""
        body = {"message": message, "subscription": f"projects/{self.project}/subscriptions/push"}
        topic_path = "/" + self.topic
        return self.client.post(topic_path, json=body)

    def push_concurrently(self, messages: list[dict[str, Any]]) -> list[int]:
        """Deliver every message at once, one thread each; returns the HTTP statuses."""
        statuses: list[int] = []
        body = {"subscription": "projects/p/subscriptions/push"}

        def deliver(message: dict[str, Any]) -> None:
            client = self.client.application.test_client()
            response = client.post("/" + self.topic, json={**body, "message": message})
            statuses.append(response.status_code)

        threads = [threading.Thread(target=deliver, args=(m,)) for m in messages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return statuses

    def deliver(self) -> list[Any]:
        """Push everything published so far; returns the responses."""
        return [self.push(message) for message in self.pull()]

    def lifecycle_message(
        self, event_type: str, name: str, payload: dict[str, Any], event_id: str | None = None
    ) -> dict[str, Any]:
        source = f"//workspaceevents.googleapis.com/{name}"
        return {
            "attributes": {
                "ce-type": event_type,
                "ce-id": event_id or str(uuid.uuid4()),
                "ce-source": source,
                "ce-subject": source,
                "ce-specversion": "1.0",
                "ce-time": "2026-11-23T12:00:00Z",
                "ce-datacontenttype": "application/json",
            },
            "data": base64.b64encode(json.dumps({"subscription": payload}).encode()).decode(),
            "messageId": str(uuid.uuid4()),
            "orderingKey": source,
        }

    @staticmethod
    def with_new_id(message: dict[str, Any]) -> dict[str, Any]:
        """The same event content under a new ce-id: Google's T-1h reminder of the same
        expiry, or a second notice of the same suspension."""
        attributes = {**message["attributes"], "ce-id": str(uuid.uuid4())}
        return {**message, "attributes": attributes, "messageId": str(uuid.uuid4())}

    def api_calls(self, *methods: str) -> list[dict[str, Any]]:
        wanted = set(methods) or WRITE_METHODS
        return [r for r in self.control.requests() if r["method"] in wanted]

    def clear_calls(self) -> None:
        self.control.clear_requests()


@pytest.fixture
def keeper_stack(
    firestore_emulator_host: str,
    pubsub_emulator_host: str,
    workspace_emulator: Any,
    project_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> KeeperStack:
    env = {
        "GOOGLE_CLOUD_PROJECT": project_id,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator_host,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
        "WORKSPACE_EVENTS_API_ENDPOINT": workspace_emulator.url,
        "KEEPER_CREDENTIALS": "anonymous",
        "KEEPER_ALERTS_TOPIC": f"projects/{project_id}/topics/keeper-alerts",
        "KEEPER_NOTICES_TOPIC": f"projects/{project_id}/topics/keeper-notices",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    topic = f"projects/{project_id}/topics/workspace-events"
    rest(pubsub_emulator_host, "PUT", topic, {})
    rest(pubsub_emulator_host, "PUT", env["KEEPER_ALERTS_TOPIC"], {})
    rest(pubsub_emulator_host, "PUT", env["KEEPER_NOTICES_TOPIC"], {})
    rest(
        pubsub_emulator_host,
        "PUT",
        f"projects/{project_id}/subscriptions/keeper-notices",
        {"topic": env["KEEPER_NOTICES_TOPIC"]},
    )
    rest(
        pubsub_emulator_host,
        "PUT",
        f"projects/{project_id}/subscriptions/keeper-alerts",
        {"topic": env["KEEPER_ALERTS_TOPIC"]},
    )
    rest(
        pubsub_emulator_host,
        "PUT",
        f"projects/{project_id}/subscriptions/keeper-test",
        {"topic": topic, "enableMessageOrdering": True},
    )
    app = functions_framework.create_app(
        target="on_workspace_event", source="devstack/function.py", signature_type="cloudevent"
    )
    return KeeperStack(
        project=project_id,
        topic=topic,
        pubsub_host=pubsub_emulator_host,
        emulator=workspace_emulator,
        store=LedgerFirestoreStore(firestore.Client(project=project_id)),
        client=app.test_client(),
    )
