"""Org-wide Chat subscriptions on the real local stack: GIVEN a Chat app subscribing to its
whole organization (`//admin.googleapis.com/customers/my_customer`) under `--auth app`, WHEN
the keeper registers, renews, reactivates and recreates it, THEN every write carries the
`chat.app.all.*` scopes the emulator demands (it refuses, naming the scope, a token without
them), and a gap is recorded with a resync alert saying why it cannot be replayed."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from typing import Any

from devstack.context import local_context
from handlers import dispatch
from keeper.domain.models import Replay, Resumption, State
from keeper.engine.ports import Context
from keeper.operator.cli import main
from tests.functional.test_register_update import new_topic
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

CUSTOMER = "//admin.googleapis.com/customers/my_customer"
ALL_MESSAGES = "https://www.googleapis.com/auth/chat.app.all.messages.readonly"
HOUR = 3600


def space_scoped_context() -> Context:
    """The local stack's context with clients that choose app scopes by event type alone, as
    the keeper did before org-wide targets: their tokens lack the chat.app.all scopes."""
    ctx = local_context()

    def space_scoped(auth: str, event_types: Any, target_resource: Any = None) -> Any:
        return ctx.client_for(auth, event_types)

    return replace(ctx, client_for=space_scoped, paced_client_for=space_scoped)


def cli(*args: str, context: Any = local_context) -> tuple[int, str]:
    """The CLI's exit status, and what it wrote (output and errors)."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(args), context=context, out=out, err=err)
    return status, out.getvalue() + err.getvalue()


def register(stack: KeeperStack, context: Any = local_context) -> tuple[int, str]:
    return cli(
        "register", "--target", CUSTOMER, "--event-type", CHAT_MESSAGE_CREATED,
        "--topic", stack.topic, "--auth", "app", "--replay", context=context,
    )  # fmt: skip


def handle_lifecycle_events(stack: KeeperStack, context: Any = local_context) -> list[str]:
    """Deliver what the emulator published on the app's topic to the keeper (as the push
    subscription does, through handlers.dispatch); returns the ce-types delivered."""
    types = []
    for message in stack.pull():
        types.append(message["attributes"]["ce-type"])
        body = {"message": message, "subscription": f"projects/{stack.project}/subscriptions/p"}
        dispatch(body, context)
    return types


def test_an_org_wide_subscription_is_kept_under_the_chat_app_all_scopes(keeper_stack):
    stack = keeper_stack
    # GIVEN an org-wide subscription registered under --auth app
    status, out = register(stack)
    assert status == 0, out
    sub = stack.managed_by_target(CUSTOMER)
    assert sub.auth == "app" and sub.state is State.ACTIVE
    # WHEN its T-12h reminder arrives THEN it is renewed
    stack.clear_calls()
    left = (sub.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 12 * HOUR + 1)
    assert "google.workspace.events.subscription.v1.expirationReminder" in (
        handle_lifecycle_events(stack)
    )
    renewed = stack.record(sub.key)
    assert renewed.expire_time > sub.expire_time
    assert [c["method"] for c in stack.api_calls()] == ["subscriptions.patch"]
    # WHEN Google suspends it for a cause that is gone THEN it is reactivated
    stack.control.suspend(sub.name, "OTHER", cause_fixed=True)
    handle_lifecycle_events(stack)
    assert stack.record(sub.key).state is State.ACTIVE
    assert stack.api_calls("subscriptions.reactivate")
    # WHEN it expires THEN it is recreated (a Chat name: the same one)
    stack.control.expire(sub.name)
    handle_lifecycle_events(stack)
    recreated = stack.record(sub.key)
    assert recreated.state is State.ACTIVE and recreated.name == sub.name
    assert stack.api_calls("subscriptions.create")
    # AND every gap is recorded, each with a resync alert saying why it is not replayed
    gaps = recreated.gaps
    assert [g.resumed_by for g in gaps] == [Resumption.REACTIVATED, Resumption.RECREATED]
    assert {g.replay for g in gaps} == {Replay.RESYNC_ALERTED}
    resyncs = [a["problem"] for a in stack.alerts() if a["kind"] == "resync"]
    assert len(resyncs) == 2
    for problem in resyncs:
        assert "org-wide Chat subscription" in problem
        assert "only to a member of that space" in problem
        assert "resync that window" in problem


def test_a_token_without_the_chat_app_all_scopes_is_refused_naming_the_scope(keeper_stack):
    # GIVEN clients that choose app scopes by event type alone
    # WHEN an org-wide subscription is registered under --auth app
    status, out = register(keeper_stack, context=space_scoped_context)
    # THEN the API refuses it, naming the chat.app.all scope; nothing is stored
    assert status != 0
    assert ALL_MESSAGES in out
    assert list(keeper_stack.store.all()) == []


def test_an_existing_org_wide_subscription_is_adopted_under_app_auth(keeper_stack):
    # GIVEN an org-wide subscription the Chat app created outside the keeper
    stack = keeper_stack
    token = "emulator:app;scopes=chat.app.all.messages.readonly,chat.bot"
    existing = stack.emulator.create(stack.topic, target=CUSTOMER, token=token)
    # WHEN it is adopted under --auth app
    status, out = cli("adopt", existing["name"], "--auth", "app")
    # THEN it is managed, as the app's, and its first renewal takes the chat.app.all scopes
    assert status == 0, out
    record = stack.managed_by_target(CUSTOMER)
    assert (record.name, record.auth) == (existing["name"], "app")
    left = (record.expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 12 * HOUR + 1)
    handle_lifecycle_events(stack)
    assert stack.record(record.key).expire_time > record.expire_time


def test_an_org_wide_subscription_receives_events_of_spaces_the_app_is_no_member_of(
    keeper_stack,
):
    # GIVEN an org-wide subscription
    stack = keeper_stack
    assert register(stack)[0] == 0
    # WHEN a message is posted in a space
    stack.control.post("spaces/ELSEWHERE", CHAT_MESSAGE_CREATED, text="hi")
    # THEN it reaches the app's topic, its subject the space
    (message,) = stack.pull()
    assert message["attributes"]["ce-subject"] == "//chat.googleapis.com/spaces/ELSEWHERE"
    assert json.loads(base64.b64decode(message["data"]))["message"]["name"].startswith(
        "spaces/ELSEWHERE/messages/"
    )


def test_an_org_wide_subscription_is_updated_and_replaced_under_the_chat_app_all_scopes(
    keeper_stack,
):
    # GIVEN an org-wide subscription registered under --auth app
    stack = keeper_stack
    assert register(stack)[0] == 0
    sub = stack.managed_by_target(CUSTOMER)
    membership = "google.workspace.chat.membership.v1.created"
    # WHEN it is registered again with one more event type THEN one patch adds it, under the
    # chat.app.all scopes its target needs (the emulator refuses narrower ones)
    status, out = cli(
        "register", "--target", CUSTOMER, "--event-type", CHAT_MESSAGE_CREATED,
        "--event-type", membership, "--topic", stack.topic, "--auth", "app",
    )  # fmt: skip
    assert status == 0, out
    assert stack.record(sub.key).event_types == (CHAT_MESSAGE_CREATED, membership)
    # WHEN it is registered again with another topic THEN it is deleted and created anew,
    # both under those scopes
    other = new_topic(stack, "org-events")
    status, out = cli(
        "register", "--target", CUSTOMER, "--event-type", CHAT_MESSAGE_CREATED,
        "--event-type", membership, "--topic", other, "--auth", "app",
    )  # fmt: skip
    assert status == 0, out
    replaced = stack.record(sub.key)
    assert (replaced.pubsub_topic, replaced.state) == (other, State.ACTIVE)
