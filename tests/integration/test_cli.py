"""`python -m keeper` on the real stack: GIVEN the emulators, WHEN an operator runs a command,
THEN the API calls made and the Firestore state are what the command promises."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from devstack.context import local_context
from keeper.domain.models import State
from keeper.operator.cli import main
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED

TARGET = "//chat.googleapis.com/spaces/CLI"


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(args), context=local_context, out=out)
    return status, out.getvalue()


def register_args(topic: str, target: str = TARGET, auth: str = "delegated:alice@example.com"):
    return ["register", "--target", target, "--event-type", CHAT_MESSAGE_CREATED, "--topic", topic,
            "--auth", auth]  # fmt: skip


def register(stack, target=TARGET, auth="delegated:alice@example.com") -> dict:
    status, out = run(*register_args(stack.topic, target, auth), "--ttl", "86400s", "--json")
    assert status == 0
    return json.loads(out)


def test_register_creates_through_the_api_and_stores_the_metadata(keeper_stack):
    record = register(keeper_stack)
    creates = keeper_stack.api_calls("subscriptions.create")
    assert [c["body"]["ttl"] for c in creates] == ["86400s"]
    stored = keeper_stack.record(record["key"])
    assert stored.name == record["name"]
    assert stored.ttl == "86400s"
    assert stored.state is State.ACTIVE
    assert stored.pubsub_topic == keeper_stack.topic


def test_registering_twice_is_refused_without_a_second_create(keeper_stack):
    register(keeper_stack)
    status, _ = run(*register_args(keeper_stack.topic))
    assert status == 1
    assert len(keeper_stack.api_calls("subscriptions.create")) == 1


def test_adopt_manages_an_existing_subscription(keeper_stack):
    created = keeper_stack.emulator.create(keeper_stack.topic, token="emulator:app")
    keeper_stack.clear_calls()
    status, out = run("adopt", created["name"], "--auth", "app", "--json")
    assert status == 0
    record = keeper_stack.record(json.loads(out)["key"])
    assert record.name == created["name"]
    assert record.target_resource == created["targetResource"]
    assert keeper_stack.api_calls() == []  # adopting reads, never writes


def test_list_show_and_forget(keeper_stack):
    record = register(keeper_stack)
    status, table = run("list")
    assert status == 0
    assert record["name"] in table and "ACTIVE" in table and "renew in" in table
    assert record["expire_time"][:16].replace("T", " ") in table  # the expiry, then time left
    status, shown = run("show", record["name"])
    assert status == 0 and "created and put under management" in shown
    status, listed = run("list", "--json")
    assert [r["key"] for r in json.loads(listed)] == [record["key"]]
    status, _ = run("forget", record["key"], "--delete")
    assert status == 0
    assert [c["method"] for c in keeper_stack.api_calls()][-1] == "subscriptions.delete"
    assert keeper_stack.store.get(record["key"]) is None
    assert run("show", record["key"])[0] == 1


def test_the_module_runs_as_a_command(keeper_stack):
    result = subprocess.run(
        [sys.executable, "-m", "keeper", "list", "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_show_prints_values_for_people_not_python_reprs(keeper_stack):
    # GIVEN a managed subscription with lists, empty and unset fields
    record = register(keeper_stack)
    # WHEN it is shown
    status, shown = run("show", record["key"])
    # THEN lists are joined, unset values are "-", and no repr leaks
    assert status == 0
    fields = dict(line.split(":", 1) for line in shown.splitlines() if not line.startswith(" "))
    assert fields["event_types"].strip() == CHAT_MESSAGE_CREATED
    assert fields["lineage"].strip() == "-"
    assert fields["field_mask"].strip() == "-"
    assert fields["include_resource"].strip() == "no"
    assert fields["expire_time"].strip().endswith(" UTC")
    for repr_only in ("None", "['", "[]", "True", "False", "+00:00"):
        assert repr_only not in shown
    assert "history (1 entry):" in shown


def test_an_overdue_action_reads_overdue_and_counts_are_in_the_singular(keeper_stack, tmp_path):
    # GIVEN a subscription whose reactivation was refused: retried after a 5-minute backoff
    record = register(keeper_stack)
    keeper_stack.control.suspend(record["name"], "OTHER", cause_fixed=False)
    keeper_stack.deliver()
    # WHEN 8 minutes pass without the sweep
    keeper_stack.control.advance(8 * 60)
    status, table = run("list")
    # THEN the next action is overdue by 3 minutes, said so
    assert status == 0
    assert "reactivate overdue by 3 min" in table
    assert "expired" not in table
    status, written = run("report", "--html", str(tmp_path / "r.html"))
    assert written.strip() == f"wrote {tmp_path / 'r.html'} (1 subscription)"


def due_for_renewal(stack) -> None:
    record = register(stack)
    left = (stack.record(record["key"]).expire_time - stack.control.now()).total_seconds()
    stack.control.advance(left - 3600)  # past both reminders' renew window, none delivered
    stack.pull()


def keeper_command(*args: str) -> subprocess.CompletedProcess[str]:
    """The keeper's CLI as a command, on the emulator's clock (`python -m devstack.cli`: the
    same `main` as `python -m keeper`, which the test above runs)."""
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )


def test_log_lines_stay_off_the_output_and_are_quiet_unless_verbose(keeper_stack):
    # GIVEN a renewal the sweep will make (the keeper logs it at INFO)
    due_for_renewal(keeper_stack)
    # WHEN the sweep runs as a command, then again verbosely
    quiet = keeper_command("sweep", "--dry-run")
    verbose = keeper_command("sweep", "--verbose")
    # THEN stdout holds only the plan; log lines go to stderr, and only with --verbose
    assert quiet.returncode == 0 and verbose.returncode == 0, quiet.stderr + verbose.stderr
    for result in (quiet, verbose):
        assert "renew" in result.stdout
        assert '"severity"' not in result.stdout
    assert quiet.stderr == ""
    logged = [json.loads(line) for line in verbose.stderr.splitlines()]
    assert logged and all("severity" in line for line in logged)
    assert len(keeper_stack.api_calls("subscriptions.patch")) == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_only(keeper_stack):
    register(keeper_stack)
    terminal, pipe = Terminal(), io.StringIO()
    assert main(["sweep", "--dry-run"], context=local_context, err=terminal) == 0
    assert main(["sweep", "--dry-run"], context=local_context, err=pipe) == 0
    assert "sweeping (dry run) ... " in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\033[K")  # the line is cleared when done
    assert pipe.getvalue() == ""


def user_subscription(stack) -> dict:
    return stack.emulator.create(stack.topic, token="emulator:delegated:alice@example.com")


def app_subscription(stack) -> dict:
    return stack.emulator.create(stack.topic, token="emulator:app")


@pytest.mark.parametrize("cross_get", [False, True], ids=["get-own-only", "get-any"])
@pytest.mark.parametrize(
    ("make", "auth", "named"),
    [
        (user_subscription, "app", ["users/", "--auth app"]),
        (user_subscription, None, ["--auth delegated:EMAIL"]),
        (app_subscription, "delegated:alice@example.com", ["Chat app", "--auth app"]),
    ],
    ids=["user-sub-under-app", "user-sub-no-auth", "app-sub-under-user"],
)
def test_adopt_refuses_a_subscription_whose_authority_does_not_fit_auth(
    keeper_stack, capsys, make, auth, named, cross_get
):
    # GIVEN a subscription authorized by one kind of principal (and, as Google may or may not
    # do, `get` showing it to another principal or not)
    keeper_stack.control.configure(cross_principal_get=cross_get)
    created = make(keeper_stack)
    keeper_stack.clear_calls()
    # WHEN an operator adopts it under the other kind (or without naming the user)
    status, _ = run("adopt", created["name"], *(["--auth", auth] if auth else []))
    # THEN refused with a non-zero exit, the message naming what does not fit, nothing stored
    assert status == 1
    error = capsys.readouterr().err
    if cross_get:
        assert all(part in error for part in named), error
    assert created["name"] in error
    assert list(keeper_stack.store.all()) == []
    assert keeper_stack.api_calls() == []


def test_adopt_without_auth_takes_the_chat_apps_own_subscription(keeper_stack):
    created = app_subscription(keeper_stack)
    status, out = run("adopt", created["name"], "--json")
    assert status == 0
    assert keeper_stack.record(json.loads(out)["key"]).auth == "app"


def test_register_refuses_a_topic_that_does_not_exist(keeper_stack, capsys):
    # GIVEN a topic that does not exist WHEN registering on it
    missing = f"projects/{keeper_stack.project}/topics/nowhere"
    status, _ = run(*register_args(missing))
    # THEN refused plainly, before any create, nothing stored
    assert status == 1
    assert f"topic {missing} does not exist" in capsys.readouterr().err
    assert keeper_stack.api_calls() == []
    assert list(keeper_stack.store.all()) == []


class TopicsUnreadable:
    """The operator may not read the topic (no pubsub.topics.get)."""

    def inspect(self, topic: str, member: str):
        from google.api_core import exceptions

        raise exceptions.PermissionDenied(f"{topic}: pubsub.topics.get denied")

    def grant_publisher(self, topic: str, member: str) -> None:
        raise AssertionError("register never grants")


def test_register_says_plainly_when_it_cannot_check_the_topic(keeper_stack, capsys):
    from dataclasses import replace

    ctx = replace(local_context(), endpoints=TopicsUnreadable())
    status = main(register_args(keeper_stack.topic), context=lambda: ctx, out=io.StringIO())
    assert status == 1
    assert "pubsub.topics.get is needed" in capsys.readouterr().err
    assert keeper_stack.api_calls() == []


def test_adopt_under_a_user_mode_finds_the_scope_that_reads_a_membership_subscription(
    keeper_stack,
):
    # GIVEN Alice's subscription to membership events only (a messages scope cannot read it)
    created = keeper_stack.emulator.create(
        keeper_stack.topic,
        token="emulator:delegated:alice@example.com",
        event_types=["google.workspace.chat.membership.v1.created"],
    )
    keeper_stack.clear_calls()
    # WHEN it is adopted under Alice's delegation
    status, out = run("adopt", created["name"], "--auth", "delegated:alice@example.com", "--json")
    # THEN the read with the messages scope is refused (403), the memberships one succeeds
    assert status == 0
    gets = [r["status"] for r in keeper_stack.control.requests() if r["method"].endswith("get")]
    assert gets == [403, 200]
    record = keeper_stack.record(json.loads(out)["key"])
    assert record.event_types == ("google.workspace.chat.membership.v1.created",)
