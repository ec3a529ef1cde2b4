"""The keeper on the in-memory store, for the fast tier: no Java, no Pub/Sub.

The Workspace Events API is the real emulator (`emulator/`), served in this process on a
loopback port; the keeper talks to it over HTTP through its own client, reads the emulator's
movable clock, and keeps its records in `InMemoryStore`. Lifecycle events are taken from what
the emulator produced (it publishes nowhere without Pub/Sub) and handed to `dispatch()` as the
Pub/Sub message data functions-framework passes on.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.clock import EmulatorClock
from emulator.control import EmulatorControl
from emulator.server import Emulator, build_server
from handlers import dispatch
from keeper.domain.models import ManagedSubscription
from keeper.domain.outcomes import Outcome
from keeper.engine.endpoint import EndpointStatus, Grant
from keeper.engine.ports import Context
from keeper.runtime.config import Config
from keeper.store.documents import to_document
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, WRITE_METHODS
from tests.support.ledger import LedgerMemoryStore
from tests.support.secrets import SecretScan
from workspace_client.credentials import ClientFactory, CredentialsProvider

TOPIC = "projects/memory-project/topics/workspace-events"


class TopicsExist:
    """The endpoint check without Pub/Sub: every topic exists, the push account's grant is
    unknown (as on the Pub/Sub emulator, which has no IAM)."""

    def inspect(self, topic: str, member: str) -> EndpointStatus:
        return EndpointStatus(topic_exists=True, publisher=Grant.UNKNOWN)

    def grant_publisher(self, topic: str, member: str) -> None:
        raise AssertionError("the fast tier never grants IAM")


@dataclass(frozen=True)
class InProcessEmulator:
    url: str
    emulator: Emulator  # the same object that serves `url`: its request log is read directly


@pytest.fixture(scope="session")
def in_process_workspace_emulator() -> Iterator[InProcessEmulator]:
    """The Workspace Events API emulator on a free loopback port, in a thread of this process."""
    emulator = Emulator("memory-project", pubsub_host=None)
    server = build_server(emulator, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
    thread.start()
    yield InProcessEmulator(f"http://127.0.0.1:{server.server_port}/", emulator)
    server.shutdown()
    thread.join()


@dataclass
class MemoryKeeper:
    ctx: Context
    store: LedgerMemoryStore
    control: EmulatorControl
    emulator: Emulator

    def register(self, target: str = "//chat.googleapis.com/spaces/AAAA") -> ManagedSubscription:
        from keeper.operator.cli import main as cli_main

        args = ["register", "--target", target, "--event-type", CHAT_MESSAGE_CREATED]
        args += ["--topic", TOPIC, "--auth", "delegated:alice@example.com"]
        assert cli_main(args, context=lambda: self.ctx, out=io.StringIO()) == 0
        return next(s for s in self.store.all() if s.target_resource == target)

    def record(self, key: str) -> ManagedSubscription:
        found = self.store.get(key)
        assert found is not None
        return found.sub

    def deliver(self, message: dict[str, Any]) -> Outcome:
        """One Pub/Sub message, as the Eventarc CloudEvent's data carries it."""
        return self.dispatch({"message": message, "subscription": "projects/p/subscriptions/push"})

    def dispatch(self, data: Any) -> Outcome:
        """What `on_workspace_event` does with its CloudEvent's data, on this context."""
        return dispatch(data, lambda: self.ctx)

    def writes(self) -> list[str]:
        """The API writes received since the last `clear_calls` (read in-process: no HTTP)."""
        requests = self.emulator.requests.to_json()
        return [r["method"] for r in requests if r["method"] in WRITE_METHODS]

    def clear_calls(self) -> None:
        self.emulator.requests.clear()


def message_of(event: dict[str, Any]) -> dict[str, Any]:
    """The Pub/Sub message of a lifecycle event the emulator produced (`control.advance`,
    `control.expire`), as Google publishes it."""
    return {
        "attributes": event["attributes"],
        "data": base64.b64encode(json.dumps(event["data"]).encode()).decode(),
        "messageId": str(uuid.uuid4()),
        "orderingKey": event["orderingKey"],
    }


@pytest.fixture
def memory_keeper(
    in_process_workspace_emulator: InProcessEmulator, secret_scan: SecretScan
) -> Iterator[MemoryKeeper]:
    url = in_process_workspace_emulator.url
    control = EmulatorControl(url)
    control.reset()
    config = Config(project="memory-project", api_endpoint=url, credentials="anonymous")
    clients = ClientFactory(CredentialsProvider(mode="anonymous", endpoint=url))
    store = LedgerMemoryStore()
    ctx = Context(
        store=store,
        client_for=clients.clients_for,
        endpoints=TopicsExist(),
        clock=EmulatorClock(url),
        config=config,
    )
    yield MemoryKeeper(ctx, store, control, in_process_workspace_emulator.emulator)
    # As for a Firestore project after its test (tests/support/secrets.py): every record,
    # history entry and ledger entry the test left is searched for secrets.
    for sub in store.all():
        documents = [to_document(sub), *(to_document(h) for h in store.history(sub.key))]
        secret_scan.check(f"in-memory store {sub.key}", json.dumps(documents, default=str))
    ledger = store.recent_events(limit=sys.maxsize)
    secret_scan.check("in-memory ledger", json.dumps(ledger, default=str))
