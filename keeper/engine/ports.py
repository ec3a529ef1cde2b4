"""The context every unit of work runs in, and the ports it reaches the world through.

Built by the composition root (keeper/runtime/context.py) once per instance, or by a test or
the local stack (devstack/context.py) with other adapters behind the same ports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from keeper.domain.clock import Clock
from keeper.domain.notices import Notice
from keeper.domain.outcomes import Outcome
from keeper.engine.alerts import Alert
from keeper.engine.endpoint import EndpointInspector, Verdict, examine
from keeper.engine.pacing import Pacers
from keeper.runtime.config import Config
from keeper.store.protocol import Store
from workspace_client.client import WorkspaceEventsClient

if TYPE_CHECKING:
    from keeper.domain.models import ManagedSubscription
    from workspace_client.chat import ChatClient
    from workspace_client.drive_activity import DriveActivityClient
    from workspace_client.meet import MeetClient


_Client_co = TypeVar("_Client_co", covariant=True)


class ClientFor(Protocol[_Client_co]):
    """A client acting as the principal `auth`, with the scopes its event types (and, for a
    Chat app, its target: an organization takes chat.app.all.*) need."""

    def __call__(
        self, auth: str, event_types: Sequence[str], target_resource: str | None = None
    ) -> _Client_co: ...


# handlers.dispatch: one Pub/Sub message's data, and the context to handle it in
Dispatch = Callable[[Any, Callable[[], "Context"]], Outcome]


class AlertSink(Protocol):
    def publish(self, alert: Alert) -> None: ...


class NoticeSink(Protocol):
    def publish(self, notice: Notice) -> None: ...


@dataclass(frozen=True)
class NoticeSinks:
    """NoticeSink: each notice to every sink, in order (the app's topic, then the Chat app's
    direct message); the first failure stops it, and the notice is sent again later."""

    sinks: tuple[NoticeSink, ...]

    def publish(self, notice: Notice) -> None:
        for sink in self.sinks:
            sink.publish(notice)


class EventSink(Protocol):
    def publish_all(
        self, topic: str, ordering_key: str, messages: Sequence[tuple[bytes, Mapping[str, str]]]
    ) -> None:
        """Publish in order under `ordering_key`; return once every one is acknowledged."""


class ShardPublisher(Protocol):
    def publish(self, topic: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class Context:
    store: Store
    client_for: ClientFor[WorkspaceEventsClient]
    endpoints: EndpointInspector
    clock: Clock
    config: Config
    alerts: AlertSink | None = None  # None: no alerts topic configured
    notices: NoticeSink | None = None  # None: no notices topic configured
    # Replays of missed events: the APIs they are read back from, as the subscription's
    # principal, and the publisher to the subscriptions' own topics. None: no replays.
    chat_for: ClientFor[ChatClient] | None = None
    meet_for: ClientFor[MeetClient] | None = None
    drive_activity_for: ClientFor[DriveActivityClient] | None = None
    events: EventSink | None = None
    # Where the sweep fans out its shards (KEEPER_SWEEP_TOPIC). None: no fan-out.
    shards: ShardPublisher | None = None
    pacers: Pacers = field(default_factory=Pacers.for_replays)
    instance: str = uuid.uuid4().hex[:12]
    # Clients whose 429s are raised at once, for the sweep, whose pacer owns those retries.
    # None: `client_for`'s (a context whose clients do not retry, as the tests' fakes).
    paced_client_for: ClientFor[WorkspaceEventsClient] | None = None

    def client(self, sub: ManagedSubscription) -> WorkspaceEventsClient:
        return self.client_for(sub.auth, sub.event_types, sub.target_resource)

    def endpoint(self, topic: str, event_types: tuple[str, ...], fix: bool = False) -> Verdict:
        """The verdict on `topic` for the push account of these event types (`examine`)."""
        account = self.config.chat_push_service_account
        return examine(self.endpoints, topic, event_types, account, fix=fix)
