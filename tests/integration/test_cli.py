"""`python -m keeper` on the real stack: GIVEN the emulators, WHEN an operator runs a command,
THEN the API calls made and the Firestore state are what the command promises."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.context import local_context
from devstack.processes import REPO_ROOT
from keeper.domain.models import State
from keeper.operator.cli import build_parser, main, usable_google_credentials
from keeper.runtime.context import LazyContext
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
    status, table = run("list", "--wide")  # the full name and expiry time: --wide (issue 23)
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


# -- without credentials, or with the wrong ones ---------------------------------------------

EVERY_COMMAND = [
    ["register", "--target", TARGET, "--event-type", CHAT_MESSAGE_CREATED, "--topic", "t"],
    ["adopt", "chat-spaces-xyz"],
    ["list"],
    ["report", "--html", "report.html"],
    ["show", "k1"],
    ["sweep"],
    ["sweep", "--dry-run"],
    ["dead-letters", "list"],
    ["dead-letters", "replay"],
    ["forget", "k1"],
    ["doctor"],
]


class RefusingTokenServer(http.server.BaseHTTPRequestHandler):
    """Google's token endpoint refusing a key (a deleted or revoked one): 400 invalid_grant."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def no_credentials(monkeypatch, tmp_path) -> None:
    """A machine outside the local stack with no Application Default Credentials. Everything
    google-auth would probe stays on loopback: the metadata server on a closed port, no GCE
    check, gcloud's configuration an empty folder."""
    for name in list(os.environ):
        if name.startswith(("KEEPER_", "FIRESTORE_", "PUBSUB_", "WORKSPACE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "keeper-prod")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:1")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:1")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.chdir(tmp_path)


def refused_key(tmp_path, token_port: int) -> str:
    """A service account key file whose token endpoint is the refusing server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "keeper-prod",
                "private_key_id": "1",
                "private_key": pem,
                "client_email": "someone@keeper-prod.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"http://127.0.0.1:{token_port}/token",
            }
        )
    )
    return str(key_file)


@pytest.fixture(params=["none", "refused"])
def wrong_credentials(request, no_credentials, monkeypatch, tmp_path) -> str:
    """No credentials ("none"), or a key Google's token endpoint refuses ("refused")."""
    if request.param == "refused":
        server = http.server.HTTPServer(("127.0.0.1", 0), RefusingTokenServer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        request.addfinalizer(server.server_close)
        request.addfinalizer(server.shutdown)
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", refused_key(tmp_path, server.server_port)
        )
    return str(request.param)


@pytest.mark.parametrize("argv", EVERY_COMMAND, ids=lambda argv: " ".join(argv[:2]))
def test_every_command_without_usable_credentials_says_what_to_do_in_one_sentence(
    wrong_credentials, argv
):
    # GIVEN no usable Google credentials (none, or a key Google refuses)
    out, err = io.StringIO(), io.StringIO()
    # WHEN an operator runs the command as `python -m keeper` does (keeper/__main__.py)
    status = main(argv, LazyContext(), out, err=err, credentials_check=usable_google_credentials)
    # THEN it exits 1 with no traceback, and says what is missing and how to get it
    assert status == 1
    assert "Traceback" not in err.getvalue() + out.getvalue()
    missing = {
        "none": "no Google credentials (Application Default Credentials are not set up)",
        "refused": "Google refused the credentials (invalid_grant: Invalid JWT)",
    }[wrong_credentials]
    login = (
        "run `gcloud auth application-default login --impersonate-service-account="
        "keeper-runtime@keeper-prod.iam.gserviceaccount.com`"
    )
    if argv[0] == "doctor":
        # doctor reports it as its first failing check, then goes on with the others
        lines = out.getvalue().splitlines()
        assert lines[0].startswith(f"FAIL  google-credentials  {missing} -> fix: {login}")
        checks = [line.split()[1] for line in lines[:-1]]
        assert checks[:2] == ["google-credentials", "control-plane"]
        assert {"alerts-publish", "topics", "push-publisher", "credentials"} <= set(checks)
        assert err.getvalue() == ""
    else:
        [sentence] = err.getvalue().splitlines()
        assert sentence.startswith(f"error: {missing}: {login}")
        assert out.getvalue() == ""


def test_the_command_says_one_sentence_and_verbose_adds_the_traceback(no_credentials):
    # GIVEN no credentials, WHEN `python -m keeper list` runs, then with --verbose
    def keeper(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keeper", *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            timeout=120,
            check=False,
        )

    quiet, verbose = keeper("list"), keeper("list", "--verbose")
    # THEN both exit 1; the first says one sentence, the second the traceback before it
    assert quiet.returncode == verbose.returncode == 1
    assert quiet.stdout == verbose.stdout == ""
    [sentence] = quiet.stderr.splitlines()
    assert sentence.startswith("error: no Google credentials")
    assert "Traceback" in verbose.stderr and "DefaultCredentialsError" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == sentence


# -- output that fits, help, global options ----------------------------------------------------


def test_list_fits_120_columns_with_googles_long_names_and_wide_shows_them_whole(keeper_stack):
    # GIVEN two subscriptions with Google's long names, one with a long problem
    first = register(keeper_stack, target="//chat.googleapis.com/spaces/AAAAlongname1")
    register(keeper_stack, target="//chat.googleapis.com/spaces/AAAAlongname2")
    keeper_stack.control.suspend(first["name"], "OTHER", cause_fixed=False)
    keeper_stack.deliver()
    assert len(first["name"]) > 80 and len(keeper_stack.record(first["key"]).last_problem) > 80
    # WHEN they are listed, by default and --wide
    status, table = run("list")
    wide_status, wide = run("list", "--wide")
    # THEN the default fits 120 columns, naming each by key and what it watches
    assert status == wide_status == 0
    assert max(len(line) for line in table.splitlines()) <= 120
    lines = table.splitlines()
    row = next(n for n, line in enumerate(lines) if line.startswith(first["key"]))
    assert "  Chat spaces/AAAAlongname1  SUSPENDED  " in lines[row]
    assert first["name"] not in lines[row]
    # AND the problem follows its row, whole, on indented lines
    problem = keeper_stack.record(first["key"]).last_problem
    below = []
    for line in lines[row + 1 :]:
        if not line.startswith("    "):
            break
        below.append(line)
    assert below[0].startswith("    problem: ")
    assert " ".join(" ".join(below).split()) == "problem: " + " ".join(problem.split())
    # AND --wide has the full name and the whole problem
    assert first["name"] in wide
    assert keeper_stack.record(first["key"]).last_problem in wide


def test_show_wraps_to_the_terminal(keeper_stack, monkeypatch):
    # GIVEN a subscription with a history of long lines, and an 80-column terminal
    record = register(keeper_stack)
    keeper_stack.control.suspend(record["name"], "OTHER", cause_fixed=False)
    keeper_stack.deliver()
    monkeypatch.setenv("COLUMNS", "80")
    # WHEN it is shown on the terminal
    terminal = Terminal()
    status = main(["show", record["key"]], context=local_context, out=terminal)
    shown = terminal.getvalue()
    # THEN no line is wider than the terminal, and the history is all there
    assert status == 0
    assert max(len(line) for line in shown.splitlines()) <= 80
    assert "FAILED_PRECONDITION" in shown
    # AND piped, its lines stay whole, for a script to read
    status, piped = run("show", record["key"])
    assert status == 0 and max(len(line) for line in piped.splitlines()) > 80


def test_global_options_go_before_or_after_the_command(keeper_stack):
    register(keeper_stack)
    before, after = run("--json", "list"), run("list", "--json")
    assert before == after
    assert before[0] == 0 and json.loads(before[1])[0]["target_resource"] == TARGET


def test_every_command_and_option_has_help_and_each_command_an_example(capsys):
    # GIVEN the CLI's commands
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        # THEN every option and argument says what it is for
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        # AND --help shows an example of the command
        with pytest.raises(SystemExit) as exit:
            main([name, "--help"], context=local_context)
        assert exit.value.code == 0
        shown = capsys.readouterr().out
        assert "example:\n  python -m keeper " in shown and name in shown.split("example:")[1]
    # AND --auth shows the secret's form (argparse may wrap the help after a hyphen)
    register_help = re.sub(r"-\s+", "-", commands["register"].format_help())
    assert "user-secret:projects/P/secrets/S" in register_help
