"""A recreated Meet subscription gets a new name (Google's Meet names are random,
docs/api-reference.md §10): GIVEN a managed Meet subscription that expires, WHEN the keeper
recreates it, THEN the record follows the new name, keeps the old one as lineage, and `show`
lists that lineage."""

from __future__ import annotations

import io
import json

from devstack.context import local_context
from keeper.domain.models import State
from keeper.operator.cli import main

TARGET = "//cloudidentity.googleapis.com/users/alice"
MEET_STARTED = "google.workspace.meet.conference.v2.started"


def run(*args: str) -> str:
    out = io.StringIO()
    assert main(list(args), context=local_context, out=out) == 0
    return out.getvalue()


def test_a_recreated_meet_subscription_is_followed_to_its_new_name(keeper_stack):
    # GIVEN a managed Meet subscription on a user's meetings
    stack = keeper_stack
    run("register", "--target", TARGET, "--event-type", MEET_STARTED, "--topic", stack.topic,
        "--auth", "delegated:alice@example.com")  # fmt: skip
    sub = stack.managed_by_target(TARGET)
    assert sub.name is not None and sub.name.startswith("subscriptions/meet-users-")
    # WHEN it expires and its expired event reaches the keeper
    stack.clear_calls()
    stack.control.expire(sub.name)
    assert all(response.status_code == 200 for response in stack.deliver())
    # THEN it was recreated under a new name, which the record now holds, the old one its lineage
    record = stack.record(sub.key)
    assert record.state is State.ACTIVE
    assert record.name is not None and record.name != sub.name
    assert record.name.startswith("subscriptions/meet-users-")
    assert record.lineage == (sub.name,)
    assert [c["method"] for c in stack.api_calls("subscriptions.create")] == [
        "subscriptions.create"
    ]
    # AND `show`, by the new name or the old, lists the lineage
    shown = json.loads(run("show", record.name, "--json"))
    assert (shown["name"], shown["lineage"]) == (record.name, [sub.name])
    text = run("show", sub.name)
    assert f"lineage: {sub.name}" in " ".join(text.split())
