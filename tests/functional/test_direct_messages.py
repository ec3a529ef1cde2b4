"""The Chat app's direct message to the user who can fix a subscription
(KEEPER_DIRECT_MESSAGES=true; keeper/engine/direct_messages.py), on the real local stack: sent
once per problem where a direct message between the user and the app exists, beside the
needsAttention notice; where none exists, the notice alone, and nothing fails."""

from __future__ import annotations

import io

import pytest

from devstack.context import local_context
from keeper.domain.notices import NEEDS_ATTENTION
from keeper.domain.policy import SUSPENSION_POLICY
from keeper.operator.cli import main
from tests.support.keeper_stack import KeeperStack

TARGET = "//chat.googleapis.com/spaces/AAAA"
REASON = "USER_SCOPE_REVOKED"


@pytest.fixture
def stack(keeper_stack: KeeperStack, monkeypatch: pytest.MonkeyPatch) -> KeeperStack:
    monkeypatch.setenv("KEEPER_DIRECT_MESSAGES", "true")
    return keeper_stack


def sweep() -> None:
    assert main(["sweep"], context=local_context, out=io.StringIO()) == 0


def suspend_and_deliver_twice(stack: KeeperStack, name: str) -> None:
    """The user revokes the scopes; the `suspended` event is delivered, and again."""
    stack.control.suspend(name, REASON)
    (event,) = stack.pull()
    assert stack.push(event).status_code == 200
    assert stack.push(event).status_code == 200


@pytest.mark.parametrize(
    "auth", ["delegated:alice@example.com", "user-secret:projects/p/secrets/alice-token"]
)
def test_the_user_is_told_once_by_direct_message(stack: KeeperStack, auth: str) -> None:
    # GIVEN a Chat subscription under a user's authority, and a direct message between that
    # user (as Google names them: the subscription's authority) and the Chat app
    sub = stack.register(TARGET, auth)
    assert sub.authority is not None
    dm = stack.control.direct_message(sub.authority)["name"]
    # WHEN the user revokes the scopes, the suspension is delivered twice, and the sweep runs
    suspend_and_deliver_twice(stack, sub.name)
    sweep()
    stack.control.advance(3600)
    sweep()
    # THEN the app got one needsAttention notice, and the user one direct message, from the
    # app, in that space, with the remedy
    (notice,) = stack.notices()
    assert notice["attributes"]["ce-type"] == NEEDS_ATTENTION
    (message,) = stack.control.messages()
    assert message["space"] == {"name": dm}
    assert message["sender"]["type"] == "BOT"
    assert SUSPENSION_POLICY[REASON].advice in message["text"]
    assert "spaces/AAAA" in message["text"]
    # AND it was sent with app authentication
    (sent,) = stack.api_calls("spaces.messages.create")
    assert sent["principal"].startswith("projects/")


def test_without_a_direct_message_only_the_notice_goes(stack: KeeperStack) -> None:
    # GIVEN a Chat subscription of Alice's, who never messaged the app
    sub = stack.register(TARGET, "delegated:alice@example.com")
    # WHEN her scopes are revoked and the suspension delivered twice
    suspend_and_deliver_twice(stack, sub.name)
    sweep()
    # THEN the app still got its one notice, the app looked for the DM once, and no message
    # was sent (and every delivery succeeded, above)
    (notice,) = stack.notices()
    assert notice["data"]["principal"] == "alice@example.com"
    assert len(stack.api_calls("spaces.findDirectMessage")) == 1
    assert stack.control.messages() == []


def test_the_apps_own_subscription_sends_no_direct_message(stack: KeeperStack) -> None:
    # GIVEN a subscription under the Chat app's authority, and Alice in a DM with the app
    sub = stack.register(TARGET, "app")
    stack.control.direct_message("users/alice@example.com")
    # WHEN the app's scopes are revoked
    stack.control.suspend(sub.name, "APP_SCOPE_REVOKED")
    (event,) = stack.pull()
    assert stack.push(event).status_code == 200
    # THEN the notice goes to the app's topic, and no user is messaged: the app's
    # administrator acts
    (notice,) = stack.notices()
    assert notice["data"]["principal"] == "app"
    assert stack.api_calls("spaces.findDirectMessage") == []
    assert stack.control.messages() == []
