"""The state every resource of the emulated Workspace shares: the records, the virtual clock,
the configuration, the Pub/Sub publisher, and the one lock every state change happens under (so
that lifecycle events go out in time order, each carrying the subscription as it was then)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from emulator.chat_spaces import ChatSpacesRecord
from emulator.config import EmulatorConfig
from emulator.drive_activity import DriveRecords
from emulator.meet import MeetRecords
from emulator.publisher import PubSubPublisher

if TYPE_CHECKING:
    from emulator.chat import ChatEvent
    from emulator.lifecycle_events import EventRecord
    from emulator.operations import Operation
    from emulator.subscriptions import Subscription


class VirtualClock:
    """Wall clock plus an offset that only moves forward."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self._offset = timedelta(0)


@dataclass
class Store:
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    sequence: int = 0
    chat_events: list[ChatEvent] = field(default_factory=list)  # every one, in time order
    meet: MeetRecords = field(default_factory=MeetRecords)
    drive: DriveRecords = field(default_factory=DriveRecords)
    chat_spaces: ChatSpacesRecord = field(default_factory=ChatSpacesRecord)


class State:
    """What the resources share. A resource reads it through on every call: `reset` and the
    control surface replace the store and the config."""

    def __init__(self, publisher: PubSubPublisher, project: str) -> None:
        self.lock = threading.RLock()
        self.clock = VirtualClock()
        self.config = EmulatorConfig()
        self.publisher = publisher
        self.project = project
        self.store = Store()

    def reset(self) -> None:
        with self.lock:
            self.store = Store()
            self.clock.reset()
            self.config = EmulatorConfig()
