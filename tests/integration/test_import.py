"""`python -m keeper import` on the real stack: GIVEN subscriptions that already exist at the
Workspace Events API emulator, made by the Chat app and by users, WHEN an operator imports
them, THEN every page of the filtered listing is read, what fits is adopted, what does not is
refused and named, nothing is written at Google, and a second run adopts nothing."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from devstack.context import local_context
from keeper.operator.cli import main
from tests.support.keeper_stack import CHAT_MESSAGE_CREATED, KeeperStack

MEMBERSHIP_CREATED = "google.workspace.chat.membership.v1.created"
TYPES = (CHAT_MESSAGE_CREATED, MEMBERSHIP_CREATED)
USERS = ("alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com")
APP_OWN = 110  # the Chat app's own subscriptions; each user has 35: 250 in all
PER_USER = 35


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["import", *args], context=local_context, out=out)
    return status, out.getvalue()


def types_args() -> list[str]:
    return [arg for event_type in TYPES for arg in ("--event-type", event_type)]


def summary(table: str) -> dict[str, list[str]]:
    """The summary table's rows: principal -> pages, listed, adopted, managed, refused."""
    lines = [line.split() for line in table.splitlines() if line.split()]
    start = next(i for i, cells in enumerate(lines) if cells[0] == "PRINCIPAL") + 1
    return {cells[0]: cells[1:] for cells in lines[start:] if cells[0] != "refused"}


def verdicts(out: str) -> Counter[str]:
    return Counter(s["verdict"] for s in json.loads(out)["subscriptions"])


def make_fleet(stack: KeeperStack) -> None:
    """250 subscriptions across the Chat app and 4 users, half on each event type."""
    owners = [("emulator:app", APP_OWN)] + [(f"emulator:delegated:{u}", PER_USER) for u in USERS]
    for token, count in owners:
        for number in range(count):
            stack.emulator.create(stack.topic, token=token, event_types=[TYPES[number % 2]])


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.txt"
    path.write_text("# the team's users\n" + "\n".join(USERS) + "\n\n", encoding="utf-8")
    return path


@pytest.mark.slow(seconds=20)
def test_import_pages_adopts_what_fits_refuses_the_rest_and_writes_nothing_at_google(
    keeper_stack: KeeperStack, users_file: Path
):
    stack = keeper_stack
    # GIVEN 250 subscriptions, of 5 principals and 2 event types, and a Chat app whose listing
    # also returns what its users authorized (one reading of Google's "any of the app's")
    make_fleet(stack)
    stack.control.configure(app_lists_user_subscriptions=True)
    stack.clear_calls()
    # WHEN the operator imports under the Chat app
    status, out = run("--auth", "app", *types_args(), "--json")
    # THEN its own are adopted, the users' refused (the app could never renew them)
    assert status == 0
    assert verdicts(out) == {"adopted": APP_OWN, "refused": 4 * PER_USER}
    refused = [s for s in json.loads(out)["subscriptions"] if s["verdict"] == "refused"]
    assert all("authorized by a user" in s["detail"] for s in refused)
    assert {r.auth for r in stack.store.all()} == {"app"}
    # WHEN the operator imports for the users, one delegation each
    status, table = run("--users", str(users_file), *types_args())
    # THEN each user's are adopted under delegated:ADDRESS
    assert status == 0
    assert summary(table) == {f"delegated:{u}": ["1", "35", "35", "0", "0"] for u in USERS}
    kept = Counter(r.auth for r in stack.store.all())
    assert kept == {"app": APP_OWN, **{f"delegated:{u}": PER_USER for u in USERS}}
    # AND nothing was written at Google; every page carried the filter, at most 100 a page
    assert stack.api_calls() == []
    lists = stack.api_calls("subscriptions.list")
    assert len(lists) == 3 + len(USERS)  # 250 under the app: 3 pages; 35 a user: 1 each
    assert {call["query"]["pageSize"] for call in lists} == {"100"}
    assert {call["query"]["filter"] for call in lists} == {
        f'event_types:"{CHAT_MESSAGE_CREATED}" OR event_types:"{MEMBERSHIP_CREATED}"'
    }
    # WHEN both imports run again
    again = [run("--auth", "app", *types_args(), "--json"), run("--users", str(users_file),
             *types_args(), "--json")]  # fmt: skip
    # THEN nothing more is adopted: all 250 are already managed
    assert [status for status, _ in again] == [0, 0]
    assert verdicts(again[0][1]) + verdicts(again[1][1]) == {"already managed": 250 + 140}
    assert len(list(stack.store.all())) == 250
    assert stack.api_calls() == []


def test_a_dry_run_judges_and_stores_nothing(keeper_stack: KeeperStack):
    stack = keeper_stack
    user = "delegated:alice@example.com"
    for event_type in TYPES:
        stack.emulator.create(stack.topic, event_types=[event_type])
    status, out = run("--auth", user, *types_args(), "--dry-run")
    assert status == 0
    assert out.startswith("dry run: nothing stored")
    assert summary(out) == {user: ["1", "2", "2", "0", "0"]}
    assert list(stack.store.all()) == []


def test_a_rate_limited_page_is_paced_and_read_again(keeper_stack: KeeperStack):
    stack = keeper_stack
    # GIVEN a user's subscription, and Google answering the first listing with 429
    stack.emulator.create(stack.topic)
    stack.control.add_fault("subscriptions.list", count=1, status=429)
    # WHEN importing THEN the pacer waits and reads the page again; it is adopted
    status, out = run("--auth", "delegated:alice@example.com", *types_args(), "--json")
    assert status == 0
    assert verdicts(out) == {"adopted": 1}
    assert [c["status"] for c in stack.api_calls("subscriptions.list")] == [429, 200]


def test_a_failed_listing_is_reported_the_others_go_on_and_the_exit_says_so(
    keeper_stack: KeeperStack, tmp_path: Path, capsys
):
    stack = keeper_stack
    # GIVEN two users with a subscription each, and Google failing the first user's listing
    # as long as the client retries it
    for user in USERS[:2]:
        stack.emulator.create(stack.topic, token=f"emulator:delegated:{user}")
    users = tmp_path / "users.txt"
    users.write_text("\n".join(USERS[:2]), encoding="utf-8")
    stack.control.add_fault("subscriptions.list", count=4, status=503)
    # WHEN importing for both
    status, out = run("--users", str(users), *types_args())
    # THEN the first is reported as stopped, the second imported, and the exit is non-zero
    assert status == 1
    assert f"error: the import under delegated:{USERS[0]} stopped" in capsys.readouterr().err
    assert summary(out)[f"delegated:{USERS[1]}"] == ["1", "1", "1", "0", "0"]
    assert Counter(r.auth for r in stack.store.all()) == {f"delegated:{USERS[1]}": 1}


def test_import_needs_credentials_to_list_with(keeper_stack: KeeperStack, capsys):
    status, _ = run(*types_args())
    assert status == 1
    assert "import needs --auth MODE, --users FILE, or both" in capsys.readouterr().err


def test_a_users_file_with_a_line_that_is_no_address_is_refused_by_line(
    keeper_stack: KeeperStack, tmp_path: Path, capsys
):
    users = tmp_path / "users.txt"
    users.write_text("alice@example.com\nnot an address\n", encoding="utf-8")
    status, _ = run("--users", str(users), *types_args())
    assert status == 1
    assert f"{users}:2: not an email address: 'not an address'" in capsys.readouterr().err
    assert keeper_stack.api_calls("subscriptions.list") == []
