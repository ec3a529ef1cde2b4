"""The Chat app's direct message sink (keeper/engine/direct_messages.py) over a scripted Chat
client: which notices it speaks for, to whom, with what, and what a failure does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from keeper.domain.models import ManagedSubscription, State
from keeper.domain.notices import Notice, chat_user, due_notice
from keeper.domain.policy import SUSPENSION_POLICY
from keeper.engine.direct_messages import DirectMessages
from keeper.engine.ports import NoticeSinks
from workspace_client.errors import PermissionDenied, Unavailable

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
REASON = "USER_SCOPE_REVOKED"


def flagged(**changes: object) -> ManagedSubscription:
    base = ManagedSubscription(
        key="k1",
        auth="delegated:alice@example.com",
        target_resource="//chat.googleapis.com/spaces/AAAA",
        event_types=("google.workspace.chat.message.v1.created",),
        pubsub_topic="projects/p/topics/t",
        name="subscriptions/chat-spaces-1",
        state=State.NEEDS_ATTENTION,
        suspension_reason=REASON,
        authority="users/123",
        last_problem="suspended: " + REASON,
        updated_at=NOW,
    )
    return base.__class__(**{**base.__dict__, **changes})


def needs_attention(**changes: object) -> Notice:
    notice = due_notice(flagged(**changes), NOW)
    assert notice is not None
    return notice


@dataclass
class ScriptedChat:
    """A ChatClient's two calls: the DM spaces by user, and each message sent."""

    spaces: dict[str, str] = field(default_factory=dict)
    refuse: Exception | None = None
    found: list[str] = field(default_factory=list)
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)

    def find_direct_message(self, user: str) -> str | None:
        self.found.append(user)
        if self.refuse is not None:
            raise self.refuse
        return self.spaces.get(user)

    def create_message(self, space: str, text: str, request_id: str | None = None) -> str:
        self.sent.append((space, text, request_id))
        return f"{space}/messages/1"


def sink(chat: ScriptedChat) -> DirectMessages:
    return DirectMessages(lambda: chat)


def test_the_remedy_goes_to_the_users_direct_message_under_a_stable_request_id() -> None:
    # GIVEN a DM between the authorizing user (Google's users/123) and the app
    chat = ScriptedChat(spaces={"users/123": "spaces/dm1"})
    notice = needs_attention()
    # WHEN the notice is published, and published again (a crash before it was recorded)
    sink(chat).publish(notice)
    sink(chat).publish(notice)
    # THEN both sends are one request id, in the user's DM, naming the space and the remedy
    (first_space, text, first_id), (_, _, second_id) = chat.sent
    assert first_space == "spaces/dm1"
    assert first_id == second_id and first_id is not None
    assert "spaces/AAAA" in text and SUSPENSION_POLICY[REASON].advice in text
    # AND a subscription to all of the user's spaces is named so
    sink(chat).publish(needs_attention(target_resource="//chat.googleapis.com/spaces/-"))
    assert "Events of your Chat spaces stopped" in chat.sent[-1][1]
    # AND another problem is another request id
    sink(chat).publish(needs_attention(last_problem="suspended again"))
    assert chat.sent[-1][2] != first_id


@pytest.mark.parametrize(
    "notice_of",
    [
        lambda: needs_attention(auth="app", authority=None),
        lambda: needs_attention(target_resource="//drive.googleapis.com/files/F"),
        lambda: Notice("n", "keeper.subscription.v1.recovered", "s", NOW, {}, "users/123"),
    ],
    ids=["the app's authority", "not a Chat space", "recovered"],
)
def test_no_message_for_what_no_user_of_a_chat_space_can_fix(
    notice_of: Callable[[], Notice],
) -> None:
    # GIVEN a DM with everyone WHEN a notice no user of a Chat space is to act on goes out
    chat = ScriptedChat(spaces={"users/123": "spaces/dm1"})
    sink(chat).publish(notice_of())
    # THEN the app does not even look
    assert chat.found == [] and chat.sent == []


def test_without_a_dm_or_when_refused_it_is_logged_and_the_notice_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="keeper.engine.direct_messages")
    # GIVEN no DM, then Google refusing the app for good
    for chat in (ScriptedChat(), ScriptedChat(refuse=PermissionDenied("chat.bot missing"))):
        # WHEN a needsAttention notice goes out THEN nothing is sent and nothing raised
        sink(chat).publish(needs_attention())
        assert chat.sent == []
    assert "no direct message between users/123" in caplog.text
    assert "chat.bot missing" in caplog.text


def test_a_transient_failure_raises_so_the_notice_is_sent_again() -> None:
    # GIVEN the Chat API unavailable, past the client's retries
    chat = ScriptedChat(refuse=Unavailable("503"))
    # WHEN a needsAttention notice goes out THEN it raises (the notice is not recorded as
    # sent, so the redelivery or the next sweep sends it again)
    with pytest.raises(Unavailable):
        sink(chat).publish(needs_attention())


@dataclass
class Recording:
    """A NoticeSink that notes its label, and fails if told to."""

    label: str
    seen: list[str]
    fails: bool = False

    def publish(self, notice: Notice) -> None:
        self.seen.append(self.label)
        if self.fails:
            raise Unavailable("503")


def test_the_fan_out_publishes_to_every_sink_in_order_and_stops_at_a_failure() -> None:
    # GIVEN the topic's sink and the DM's
    seen: list[str] = []
    both = NoticeSinks((Recording("topic", seen), Recording("dm", seen)))
    # WHEN a notice goes through both THEN the topic had it, then the DM
    both.publish(needs_attention())
    assert seen == ["topic", "dm"]
    # WHEN the topic fails THEN it raises before the DM (the notice goes again later)
    seen.clear()
    failing = NoticeSinks((Recording("topic", seen, fails=True), Recording("dm", seen)))
    with pytest.raises(Unavailable):
        failing.publish(needs_attention())
    assert seen == ["topic"]


def test_the_user_is_named_by_googles_authority_else_by_email() -> None:
    # GIVEN a user's subscription with and without the authority Google reports, and the app's
    # THEN the Chat user is users/ID where known, users/EMAIL under delegation, else none
    assert chat_user(flagged()) == "users/123"
    assert chat_user(flagged(authority=None)) == "users/alice@example.com"
    assert chat_user(flagged(auth="user-secret:projects/p/secrets/s", authority=None)) is None
    assert chat_user(flagged(auth="app")) is None
    # AND the notice carries it, not in its published data
    notice = needs_attention()
    assert notice.user == "users/123" and "user" not in notice.data
