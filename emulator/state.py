"""The emulated Workspace Events API (and the Chat space events it reads): one shared state
(emulator/store.py) and one object per resource over it.

Every state change happens under one lock, and so does lifecycle publishing, so that events go
out in time order and the data of each event is the subscription as it was at that moment.
"""

from __future__ import annotations

from emulator.chat_spaces import ChatSpaces
from emulator.drive_activity import DriveActivity
from emulator.lifecycle_events import LifecycleEvents
from emulator.meet import Meet
from emulator.operations import Operations
from emulator.publisher import PubSubPublisher
from emulator.space_events import SpaceEvents
from emulator.store import State
from emulator.subscriptions import Subscriptions


class Workspace(State):
    """The API's state and behaviour, a resource per attribute. Thread-safe: every public
    method of a resource takes the shared lock."""

    def __init__(self, publisher: PubSubPublisher, project: str) -> None:
        super().__init__(publisher, project)
        self.operations = Operations(self)
        self.subscriptions = Subscriptions(self, self.operations)
        self.lifecycle = LifecycleEvents(self, self.subscriptions)
        self.space_events = SpaceEvents(self)
        self.meet = Meet(self)
        self.drive_activity = DriveActivity(self)
        self.chat_spaces = ChatSpaces(self)
