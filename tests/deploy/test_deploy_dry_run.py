"""deploy/deploy.sh and deploy/teardown.sh in dry run, every printed gcloud command checked
against the installed Google Cloud CLI's own argument parser, and every curl command (the
Cloud Monitoring API, for alert policies, which gcloud has in alpha only) checked against the
API's URL scheme and the rendered files it sends.

The check runs each command for real, with no account: a fresh CLOUDSDK_CONFIG, prompts off,
no GCE metadata lookup, the environment's Google credentials removed and every proxy pointed
at a closed port. A command whose arguments parse gets as far as looking for credentials and
stops there ("You do not currently have an active account selected"): that passes. Anything
else fails: exit status 2 (argparse: unrecognized arguments, invalid choice, bad value), and
every other error, because an error that is not about credentials means gcloud refused the
command before it would have reached Google. Commands run in one process of the SDK's own
Python (tests/deploy/gcloud_harness.py: the CLI is loaded once); if that harness cannot start,
one `gcloud` process per command, in a thread pool. A test runs a sample both ways and expects
the same verdicts, and feeds the checker commands with a bogus flag, an unknown command and a
bad value to prove it rejects them.

No network, no credentials, nothing installed. Under CI=true a missing gcloud or shellcheck is
a failure, never a skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
HERE = Path(__file__).resolve().parent
TEST_ENV = HERE / "keeper.test.env"
HARNESS = HERE / "gcloud_harness.py"
PROJECT = "keeper-test-project"
SA = f"keeper-runtime@{PROJECT}.iam.gserviceaccount.com"
INVOKER = f"keeper-invoker@{PROJECT}.iam.gserviceaccount.com"
NOTICES = "projects/app-project/topics/app-notices"
LIFECYCLE_FILTER = 'hasPrefix(attributes.ce-type, "google.workspace.events.subscription.")'
DEAD_PROXY = "http://127.0.0.1:9"
IN_CI = os.environ.get("CI", "").lower() == "true"

# gcloud got past argument parsing and stopped at the first credential lookup.
CREDENTIALS_ONLY = re.compile(
    r"You do not currently have an active account selected"
    r"|Please run:\s+\$ gcloud auth login"
    r"|No credentialed accounts"
    r"|Your default credentials were not found"
)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed"
        if IN_CI:
            pytest.fail(f"{message}; under CI=true this test is never skipped")
        pytest.skip(message)
    return path


# -- the argument checker --------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    line: str
    ok: bool
    reason: str


def classify(line: str, code: int, stderr: str) -> Verdict:
    first = next((s for s in stderr.splitlines() if s.strip()), "")
    if code == 0:
        return Verdict(line, True, "ran without credentials")
    if code == 2:
        return Verdict(line, False, f"argument error: {first}")
    if CREDENTIALS_ONLY.search(stderr):
        return Verdict(line, True, "parsed; stopped for lack of credentials")
    return Verdict(line, False, f"not a credentials error (exit {code}): {first}")


def isolated_env(config_dir: str) -> dict[str, str]:
    drop = ("CLOUDSDK_", "GOOGLE_", "GCE_")
    proxies = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(drop) and k.upper() not in proxies
    }
    env.update(
        CLOUDSDK_CONFIG=config_dir,
        CLOUDSDK_CORE_DISABLE_PROMPTS="1",
        CLOUDSDK_CORE_CHECK_GCE_METADATA="false",
        CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="true",
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="true",
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
    )
    return env


def gcloud_argv(line: str) -> list[str]:
    argv = shlex.split(line)
    assert argv and argv[0] == "gcloud", f"not a gcloud command: {line!r}"
    return argv


@cache
def sdk_root() -> Path:
    return Path(os.path.realpath(require("gcloud"))).parents[1]


def sdk_python(root: Path) -> str:
    bundled = root / "platform" / "bundledpythonunix" / "bin" / "python3"
    if bundled.exists():
        return str(bundled)
    return os.environ.get("CLOUDSDK_PYTHON") or shutil.which("python3") or sys.executable


class HarnessUnavailable(RuntimeError):
    pass


def check_in_process(lines: Sequence[str]) -> list[Verdict]:
    root = sdk_root()
    requests = "".join(json.dumps(gcloud_argv(line)[1:]) + "\n" for line in lines)
    with tempfile.TemporaryDirectory(prefix="gcloud-config-") as config:
        result = subprocess.run(
            [sdk_python(root), str(HARNESS), str(root)],
            input=requests,
            capture_output=True,
            text=True,
            env=isolated_env(config),
            timeout=300,
            check=False,
        )
    answers = [json.loads(s) for s in result.stdout.splitlines() if s.startswith("{")]
    if result.returncode != 0 or len(answers) != len(lines):
        raise HarnessUnavailable(f"exit {result.returncode}: {result.stderr[-2000:]}")
    return [classify(line, a["code"], a["stderr"]) for line, a in zip(lines, answers, strict=True)]


def check_one_process_each(lines: Sequence[str], workers: int = 4) -> list[Verdict]:
    gcloud = require("gcloud")

    def one(line: str) -> Verdict:
        with tempfile.TemporaryDirectory(prefix="gcloud-config-") as config:
            result = subprocess.run(
                [gcloud, *gcloud_argv(line)[1:]],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=isolated_env(config),
                timeout=120,
                check=False,
            )
        return classify(line, result.returncode, result.stderr)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, lines))


def check_commands(lines: Iterable[str]) -> list[Verdict]:
    unique = list(dict.fromkeys(lines))
    try:
        return check_in_process(unique)
    except HarnessUnavailable as error:
        print(f"in-process harness unavailable, one gcloud per command: {error}")
        return check_one_process_each(unique)


# -- running the scripts ---------------------------------------------------------------------


@dataclass(frozen=True)
class DryRun:
    lines: list[str]
    stderr: str
    rendered: Path

    def argvs(self) -> list[list[str]]:
        return [shlex.split(line) for line in self.lines]

    def gcloud_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("gcloud ")]

    def curls(self) -> list[list[str]]:
        return [argv for argv in self.argvs() if argv[0] == "curl"]

    def matching(self, *words: str) -> list[list[str]]:
        return [argv for argv in self.argvs() if all(w in argv for w in words)]

    def one(self, *words: str) -> list[str]:
        found = self.matching(*words)
        assert len(found) == 1, f"expected one command with {words}, got {found}"
        return found[0]


def env_file(tmp: Path, name: str, **overrides: str) -> Path:
    """The test configuration plus overrides; its operator settings file is in tmp, never the
    repository's deploy/operator.env."""
    path = tmp / f"{name}.env"
    overrides = {"OPERATOR_ENV_FILE": str(tmp / f"{name}.operator.env"), **overrides}
    extra = "".join(f"{k}={shlex.quote(v)}\n" for k, v in overrides.items())
    path.write_text(TEST_ENV.read_text() + extra)
    return path


def dry_run(script: str, env: Path, tmp: Path, *args: str, path: str | None = None) -> DryRun:
    rendered = tmp / f"rendered-{env.stem}-{script}-{'-'.join(a.strip('-') for a in args)}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "KEEPER_"))}
    environ["KEEPER_RENDER_DIR"] = str(rendered)
    if path is not None:
        environ["PATH"] = path
    result = subprocess.run(
        ["bash", str(DEPLOY / script), "--dry-run", "--env-file", str(env), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return DryRun(lines, result.stderr, rendered)


def six_dry_runs(tmp: Path) -> dict[str, DryRun]:
    base = env_file(tmp, "base")
    no_fix = env_file(
        tmp,
        "no-fix",
        KEEPER_FIX_TOPIC_IAM="false",
        SECRETS="",
        PUSH_PUBLISHERS="",
        OPERATORS="",
        NOTICES_TOPIC="keeper-notices",
    )
    return {
        "default": dry_run("deploy.sh", base, tmp),
        "push": dry_run("deploy.sh", no_fix, tmp, "--push-filter"),
        "eventarc": dry_run("deploy.sh", base, tmp, "--eventarc"),
        "eventarc-env": dry_run(
            "deploy.sh", env_file(tmp, "eventarc-env", PUSH_FILTER="false"), tmp
        ),
        "teardown": dry_run("teardown.sh", base, tmp, "--delete-data"),
        "teardown-events": dry_run("teardown.sh", base, tmp, "--only-event-function"),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, DryRun]:
    """The scripts' dry runs, made once per test session: under pytest-xdist the first worker
    to need them makes them in the workers' shared temporary folder, and the others read its
    record (each worker making its own cost 4 times the CPU, and 40 s of a loaded worker's
    time: docs/testing.md). The dry runs write only into that folder."""
    if worker_id == "master":  # one process: nothing to share
        return six_dry_runs(tmp_path_factory.mktemp("dry-runs"))
    shared = tmp_path_factory.getbasetemp().parent / "deploy-dry-runs"
    shared.mkdir(exist_ok=True)
    record = shared / "runs.json"
    # fcntl: one lock between the workers needs no dependency (filelock is not one of them).
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            made = six_dry_runs(shared)
            record.write_text(
                json.dumps(
                    {name: [run.lines, run.stderr, str(run.rendered)] for name, run in made.items()}
                )
            )
    return {
        name: DryRun(lines, stderr, Path(rendered))
        for name, (lines, stderr, rendered) in json.loads(record.read_text()).items()
    }


# -- the argument check ----------------------------------------------------------------------


def test_every_printed_gcloud_command_parses(runs: dict[str, DryRun]) -> None:
    lines = [line for run in runs.values() for line in run.gcloud_lines()]
    assert len(lines) > 100
    verdicts = check_commands(lines)
    refused = [f"{v.reason}\n    {v.line}" for v in verdicts if not v.ok]
    assert not refused, "gcloud refused:\n" + "\n".join(refused)


def test_every_command_is_gcloud_or_curl_and_names_the_project(runs: dict[str, DryRun]) -> None:
    for name, run in runs.items():
        assert run.lines, name
        for argv in run.argvs():
            assert argv[0] in ("gcloud", "curl"), argv
            if argv[0] == "gcloud":
                assert f"--project={PROJECT}" in argv, f"{name}: no explicit project: {argv}"
            assert not {"alpha", "beta"} & set(argv[:2]), f"not a GA command: {argv}"
            assert "Bearer" not in " ".join(argv), "a token on a command line"


MONITORING = "https://monitoring.googleapis.com/v3/"


def test_every_curl_command_is_a_monitoring_api_call_on_the_project(
    runs: dict[str, DryRun],
) -> None:
    for run in runs.values():
        for argv in run.curls():
            url = argv[-1]
            assert url.startswith(f"{MONITORING}projects/{PROJECT}/alertPolicies"), url
            assert "--fail-with-body" in argv  # an API error fails the run
            header = argv[argv.index("-H") + 1]
            assert header.startswith("@") and header.endswith("/authorization.header")
            method = argv[argv.index("-X") + 1] if "-X" in argv else "GET"
            assert method in {"GET", "POST", "PATCH", "DELETE"}, argv
            if method in {"POST", "PATCH"}:
                body = Path(argv[argv.index("--data") + 1].removeprefix("@"))
                policy = json.loads(body.read_text())
                assert policy["displayName"] and policy["conditions"], body
            if method == "GET":
                query = argv[argv.index("--data-urlencode") + 1]
                assert re.fullmatch(r'filter=display_name="Workspace keeper: [^"]+"', query)
        # the token is minted by gcloud before the first call
        if run.curls():
            first_curl = next(i for i, a in enumerate(run.argvs()) if a[0] == "curl")
            minted = [a[:3] for a in run.argvs()[:first_curl]]
            assert ["gcloud", "auth", "print-access-token"] in minted


BAD_COMMANDS = {
    "bogus flag": "gcloud pubsub topics create keeper-x --no-such-flag --project=p-test",
    "unknown command": "gcloud pubsub topicz create keeper-x --project=p-test",
    "bad enum value": "gcloud functions deploy keeper-x --gen2 --region=us-central1 "
    "--runtime=python311 --trigger-http --ingress-settings=everywhere --project=p-test",
    "flag of another command": "gcloud pubsub topics create keeper-x --retry --project=p-test",
    "missing required flag": "gcloud scheduler jobs create pubsub keeper-x "
    "--location=us-central1 --topic=projects/p-test/topics/t --message-body=x --project=p-test",
    "topic resource without a project": "gcloud scheduler jobs create pubsub keeper-x "
    "--location=us-central1 --schedule='*/10 * * * *' --topic=t --message-body=x "
    "--project=p-test",
}
GOOD_COMMANDS = [
    "gcloud pubsub topics create keeper-x --project=p-test",
    "gcloud scheduler jobs create pubsub keeper-x --location=us-central1 "
    "--schedule='*/10 * * * *' --topic=projects/p-test/topics/t --message-body=x --project=p-test",
]


def test_the_checker_rejects_bad_commands_and_accepts_good_ones(runs: dict[str, DryRun]) -> None:
    deploy_line = next(line for line in runs["default"].lines if " functions deploy " in line)
    bad = [*BAD_COMMANDS.values(), deploy_line + " --no-such-flag"]
    verdicts = check_commands([*bad, *GOOD_COMMANDS, deploy_line])
    by_line = {v.line: v for v in verdicts}
    for line in bad:
        assert not by_line[line].ok, f"accepted a bad command: {line}"
    assert (
        "unrecognized arguments: --no-such-flag" in by_line[deploy_line + " --no-such-flag"].reason
    )
    for line in [*GOOD_COMMANDS, deploy_line]:
        assert by_line[line].ok, by_line[line]


def test_in_process_and_one_process_per_command_agree(runs: dict[str, DryRun]) -> None:
    # One `gcloud` process per command is slow (seconds each): a small sample of each kind.
    sample = [
        BAD_COMMANDS["bogus flag"],
        BAD_COMMANDS["topic resource without a project"],
        GOOD_COMMANDS[0],
        next(line for line in runs["push"].lines if "--entry-point=on_workspace_event" in line),
    ]
    fast = check_in_process(sample)
    slow = check_one_process_each(sample)
    assert [(v.line, v.ok) for v in fast] == [(v.line, v.ok) for v in slow]
    assert [v.ok for v in fast] == [False, False, True, True]


def test_the_dry_run_runs_no_gcloud(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    marker = tmp_path / "gcloud-was-called"
    (fake / "gcloud").write_text(f"#!/bin/sh\ntouch {marker}\nexit 99\n")
    (fake / "gcloud").chmod(0o755)
    path = f"{fake}:{os.environ['PATH']}"
    for script in ("deploy.sh", "teardown.sh"):
        run = dry_run(script, TEST_ENV, tmp_path, path=path)
        assert run.lines
    assert not marker.exists()


# -- what the deployment does ----------------------------------------------------------------


def bindings(run: DryRun) -> set[tuple[str, str, str, str]]:
    """(resource kind, resource, member, role) of every add-iam-policy-binding."""
    found = set()
    for argv in run.matching("add-iam-policy-binding"):
        kind = " ".join(argv[1 : argv.index("add-iam-policy-binding")])
        resource = argv[argv.index("add-iam-policy-binding") + 1]
        flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
        found.add((kind, resource, flags["member"], flags["role"]))
    return found


def test_event_function_is_a_gen2_python_function_on_the_topic_with_retry(
    runs: dict[str, DryRun],
) -> None:
    argv = runs["eventarc"].one("functions", "deploy", "--entry-point=on_workspace_event")
    for flag in [
        "--gen2",
        "--runtime=python311",
        "--trigger-topic=workspace-events",
        "--retry",
        f"--service-account={SA}",
        f"--trigger-service-account={INVOKER}",
        "--no-allow-unauthenticated",
        "--memory=512Mi",
        "--concurrency=20",
        "--max-instances=5",
        "--ingress-settings=internal-only",
    ]:
        assert flag in argv, flag
    env = next(a for a in argv if a.startswith("--set-env-vars="))
    variables = dict(v.split("=", 1) for v in env.split("=", 1)[1].split(","))
    assert variables["LOG_EXECUTION_ID"] == "true"
    assert variables["GOOGLE_CLOUD_PROJECT"] == PROJECT
    assert variables["KEEPER_FIX_TOPIC_IAM"] == "true"
    assert variables["KEEPER_ALERTS_TOPIC"] == f"projects/{PROJECT}/topics/keeper-alerts"
    assert (
        variables["KEEPER_DEAD_LETTER_SUBSCRIPTION"]
        == f"projects/{PROJECT}/subscriptions/keeper-dead-letter-inbox"
    )
    assert variables["KEEPER_SWEEP_TOPIC"] == f"projects/{PROJECT}/topics/keeper-sweep"
    assert "--trigger-http" not in argv


def test_sweep_function_and_scheduler_job(runs: dict[str, DryRun]) -> None:
    run = runs["default"]
    argv = run.one("functions", "deploy", "--entry-point=on_sweep")
    assert "--trigger-topic=keeper-sweep" in argv
    assert "--no-allow-unauthenticated" in argv
    assert "--retry" not in argv  # the next tick is the retry
    assert "--concurrency=1" in argv
    job = run.one("scheduler", "jobs", "create", "pubsub")
    assert "--schedule=*/10 * * * *" in job
    assert f"--topic=projects/{PROJECT}/topics/keeper-sweep" in job


def test_topics_and_the_dead_letter_policy(runs: dict[str, DryRun]) -> None:
    run = runs["eventarc"]
    created = {argv[4] for argv in run.matching("pubsub", "topics", "create")}
    assert created == {"workspace-events", "keeper-dead-letter", "keeper-alerts", "keeper-sweep"}
    update = run.one("pubsub", "subscriptions", "update")
    assert f"--dead-letter-topic=projects/{PROJECT}/topics/keeper-dead-letter" in update
    assert "--max-delivery-attempts=10" in update
    assert run.one("pubsub", "subscriptions", "create", "--topic=keeper-dead-letter")


def test_the_default_deploys_behind_a_filtered_authenticated_push_subscription(
    runs: dict[str, DryRun],
) -> None:
    # GIVEN no mode on the command line or in the env file, or --push-filter
    # THEN only lifecycle events reach the function: a push subscription filtered to them
    for name in ("default", "push"):
        run = runs[name]
        argv = run.one("functions", "deploy", "--entry-point=on_workspace_event")
        assert "--trigger-http" in argv
        assert "--no-allow-unauthenticated" in argv
        assert not any(a.startswith("--trigger-topic") for a in argv)
        sub = run.one("pubsub", "subscriptions", "create", "keeper-lifecycle-push")
        assert f"--message-filter={LIFECYCLE_FILTER}" in sub
        assert "--topic=workspace-events" in sub
        assert f"--push-auth-service-account={INVOKER}" in sub
        assert f"--dead-letter-topic=projects/{PROJECT}/topics/keeper-dead-letter" in sub
        endpoint = next(a for a in sub if a.startswith("--push-endpoint="))
        assert endpoint.endswith(f"/projects/{PROJECT}/topics/workspace-events")
        assert (
            "run services",
            "keeper-events",
            f"serviceAccount:{INVOKER}",
            "roles/run.invoker",
        ) in (bindings(run))
        assert not run.matching("eventarc")
        assert "only they invoke keeper-events" in run.stderr


def test_the_eventarc_mode_is_the_same_by_flag_or_env_file(runs: dict[str, DryRun]) -> None:
    # GIVEN --eventarc, or PUSH_FILTER=false in the env file
    flag, env = runs["eventarc"], runs["eventarc-env"]
    # THEN every message on the topic invokes the function, through an Eventarc trigger, and
    # the deploy says so; the two ways print the same commands
    argv = flag.one("functions", "deploy", "--entry-point=on_workspace_event")
    assert "--trigger-topic=workspace-events" in argv
    assert not flag.matching("pubsub", "subscriptions", "create", "keeper-lifecycle-push")
    assert "every message on workspace-events" in flag.stderr

    def same_files(run: DryRun) -> list[str]:
        return [line.replace(str(run.rendered), "RENDERED") for line in run.lines]

    assert same_files(flag) == same_files(env)


def test_the_two_modes_cannot_both_be_asked_for(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "bash",
            str(DEPLOY / "deploy.sh"),
            "--dry-run",
            "--env-file",
            str(TEST_ENV),
            "--push-filter",
            "--eventarc",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--push-filter and --eventarc: pick one" in result.stderr
    assert not result.stdout


def test_roles_are_exactly_the_documented_ones(runs: dict[str, DryRun]) -> None:
    me = f"serviceAccount:{SA}"
    agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
    invoker = f"serviceAccount:{INVOKER}"
    inspector = f"projects/{PROJECT}/roles/keeperTopicInspector"
    common = {
        ("projects", PROJECT, me, "roles/datastore.user"),
        ("pubsub topics", "keeper-dead-letter", me, "roles/pubsub.publisher"),
        ("pubsub topics", "keeper-alerts", me, "roles/pubsub.publisher"),
        ("pubsub topics", "keeper-sweep", me, "roles/pubsub.publisher"),
        ("pubsub topics", NOTICES, me, "roles/pubsub.publisher"),
        # operators run `python -m keeper dead-letters` as the keeper
        ("pubsub subscriptions", "keeper-dead-letter-inbox", me, "roles/pubsub.subscriber"),
        ("iam service-accounts", SA, me, "roles/iam.serviceAccountTokenCreator"),
        (
            "iam service-accounts",
            SA,
            "user:ops@example.com",
            "roles/iam.serviceAccountTokenCreator",
        ),
        (
            "iam service-accounts",
            SA,
            "group:keeper-ops@example.com",
            "roles/iam.serviceAccountTokenCreator",
        ),
        ("secrets", "alice-refresh-token", me, "roles/secretmanager.secretAccessor"),
        ("secrets", "bob-refresh-token", me, "roles/secretmanager.secretAccessor"),
        ("pubsub topics", "workspace-events", me, inspector),
        ("pubsub topics", "workspace-events", me, "roles/pubsub.admin"),  # KEEPER_FIX_TOPIC_IAM
        (
            "pubsub topics",
            "workspace-events",
            "serviceAccount:chat-api-push@system.gserviceaccount.com",
            "roles/pubsub.publisher",
        ),
        (
            "pubsub topics",
            "workspace-events",
            "serviceAccount:meet-api-event-push@system.gserviceaccount.com",
            "roles/pubsub.publisher",
        ),
        ("pubsub topics", "keeper-dead-letter", agent, "roles/pubsub.publisher"),
        ("iam service-accounts", INVOKER, agent, "roles/iam.serviceAccountTokenCreator"),
        ("run services", "keeper-events", invoker, "roles/run.invoker"),
        ("run services", "keeper-sweep", invoker, "roles/run.invoker"),
    }

    def acking_on(subscription: str) -> tuple[str, str, str, str]:
        # dead-lettering acknowledges on the delivering subscription as the Pub/Sub agent
        path = f"projects/{PROJECT}/subscriptions/{subscription}"
        return ("pubsub subscriptions", path, agent, "roles/pubsub.subscriber")

    assert bindings(runs["eventarc"]) == common | {acking_on("EVENTARC_SUBSCRIPTION")}
    assert bindings(runs["default"]) == common | {acking_on("keeper-lifecycle-push")}
    role = runs["default"].one("iam", "roles", "create")
    assert "--permissions=pubsub.topics.get,pubsub.topics.getIamPolicy" in role


def test_the_notices_topic_is_created_only_in_the_keepers_project(
    runs: dict[str, DryRun],
) -> None:
    # GIVEN NOTICES_TOPIC as a plain name: a topic of this project, created like TOPIC
    run = runs["push"]
    path = f"projects/{PROJECT}/topics/keeper-notices"
    assert run.one("pubsub", "topics", "create", "keeper-notices")
    assert ("pubsub topics", path, f"serviceAccount:{SA}", "roles/pubsub.publisher") in bindings(
        run
    )
    assert function_env(run)["KEEPER_NOTICES_TOPIC"] == path
    # GIVEN projects/P/topics/T in another project: granted on, never created
    assert not runs["default"].matching("pubsub", "topics", "create", NOTICES)
    assert not runs["default"].matching("pubsub", "topics", "describe", NOTICES)


def test_topic_admin_only_with_the_auto_fix(runs: dict[str, DryRun]) -> None:
    roles = {role for (_, _, _, role) in bindings(runs["push"])}
    assert "roles/pubsub.admin" not in roles
    assert "roles/secretmanager.secretAccessor" not in roles
    # switched off: the deploy checks for an earlier grant to take back
    assert runs["push"].one("pubsub", "topics", "get-iam-policy", "workspace-events")
    argv = runs["push"].one("functions", "deploy", "--entry-point=on_workspace_event")
    assert any(
        a.endswith("KEEPER_FIX_TOPIC_IAM=false") or ",KEEPER_FIX_TOPIC_IAM=false," in a
        for a in argv
    )


def test_apis_firestore_indexes_and_ttl(runs: dict[str, DryRun]) -> None:
    run = runs["default"]
    enabled = set(run.one("services", "enable"))
    for api in [
        "workspaceevents",
        "chat",  # replays of missed events read the Chat, Meet REST and Drive Activity APIs
        "meet",
        "driveactivity",
        "cloudfunctions",
        "run",
        "eventarc",
        "pubsub",
        "firestore",
        "cloudscheduler",
        "iamcredentials",
        "secretmanager",
        "logging",
        "monitoring",
        "cloudbuild",
        "artifactregistry",
    ]:
        assert f"{api}.googleapis.com" in enabled, api
    assert "--location=eur3" in run.one("firestore", "databases", "create")
    ttl = run.one("firestore", "fields", "ttls", "update")
    assert {"expire_at", "--collection-group=keeper_events", "--enable-ttl"} <= set(ttl)
    spec = json.loads((DEPLOY / "firestore.indexes.json").read_text())
    composite = run.matching("firestore", "indexes", "composite", "create")
    assert len(composite) == len(spec["indexes"])


def test_monitoring_files_are_rendered_and_applied(runs: dict[str, DryRun]) -> None:
    run = runs["default"]
    metrics = {argv[4] for argv in run.matching("logging", "metrics", "create")}
    assert metrics == {
        "keeper_needs_attention",
        "keeper_renew_failed",
        "keeper_sweep_runs",
        "keeper_own_errors",
    }
    filters = {
        name: json.loads((run.rendered / f"metric-{name}.json").read_text())["filter"]
        for name in metrics
    }
    assert 'labels.outcome="flagged"' in filters["keeper_needs_attention"]
    assert 'labels.action="renew" AND labels.outcome="failed"' in filters["keeper_renew_failed"]
    assert 'service_name="keeper-sweep"' in filters["keeper_sweep_runs"]
    # a sweep run that failed counts as no run: only its completed summary, or an ack
    assert 'labels.action="sweep" AND labels.outcome="completed"' in filters["keeper_sweep_runs"]
    assert 'severity>=ERROR AND labels.failure="keeper"' in filters["keeper_own_errors"]
    policies = run.matching("curl", "POST", f"{MONITORING}projects/{PROJECT}/alertPolicies")
    assert len(policies) == 5
    for argv in policies:
        path = Path(argv[argv.index("--data") + 1].removeprefix("@"))
        policy = json.loads(path.read_text())
        assert "${" not in path.read_text()
        assert policy["notificationChannels"] == [
            f"projects/{PROJECT}/notificationChannels/123",
            f"projects/{PROJECT}/notificationChannels/456",
        ]
        assert policy["documentation"]["content"]
    absent = json.loads((run.rendered / "alert-sweep-missing.json").read_text())
    assert absent["conditions"][0]["conditionAbsent"]["duration"] == "1800s"
    dead = json.loads((run.rendered / "alert-dead-lettered.json").read_text())
    assert "keeper-dead-letter-inbox" in dead["conditions"][0]["conditionThreshold"]["filter"]


def test_the_dashboard_charts_the_keepers_metrics(runs: dict[str, DryRun]) -> None:
    run = runs["default"]
    argv = run.one("monitoring", "dashboards", "create")
    path = Path(next(a for a in argv if a.startswith("--config-from-file=")).split("=", 1)[1])
    text = path.read_text()
    assert "${" not in text
    dashboard = json.loads(text)
    assert dashboard["displayName"] == f"Workspace subscription keeper ({PROJECT})"
    filters = [
        data["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for tile in dashboard["mosaicLayout"]["tiles"]
        for data in tile["widget"]["xyChart"]["dataSets"]
    ]
    for metric in ("keeper_needs_attention", "keeper_renew_failed", "keeper_sweep_runs"):
        assert any(f"logging.googleapis.com/user/{metric}" in f for f in filters), metric
    assert any('service_name="keeper-events"' in f for f in filters)
    assert any('subscription_id="keeper-dead-letter-inbox"' in f for f in filters)
    # tiles stay inside the 48-column grid and do not overlap
    cells = set()
    for tile in dashboard["mosaicLayout"]["tiles"]:
        assert tile["xPos"] + tile["width"] <= dashboard["mosaicLayout"]["columns"]
        area = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not cells & area
        cells |= area


def function_env(run: DryRun) -> dict[str, str]:
    argv = run.one("functions", "deploy", "--entry-point=on_workspace_event")
    env = next(a for a in argv if a.startswith("--set-env-vars="))
    return dict(v.split("=", 1) for v in env.split("=", 1)[1].split(","))


def operator_settings(lines: Iterable[str]) -> dict[str, str]:
    """NAME=value lines of an operator settings file, comments skipped, quotes undone."""
    return {
        name: shlex.split(value)[0] if value else ""
        for name, _, value in (
            line.partition("=") for line in lines if line.strip() and not line.startswith("#")
        )
    }


def test_the_dry_run_shows_the_operator_settings_it_would_write(runs: dict[str, DryRun]) -> None:
    # GIVEN a dry run in the default mode
    run = runs["default"]
    # THEN its output ends with the operator settings file, word for word as a real run writes it
    shown = run.stderr.split("the operator's settings it would write to ", 1)[1].splitlines()
    assert shown[0].endswith("base.operator.env:")
    content = [line.removeprefix("#   ") for line in shown[1:]]
    assert content[2] == f"#   set -a; . {shown[0].removesuffix(':')}; set +a"
    settings = operator_settings(content)
    # what the CLI needs after a deploy, and exactly what the functions run with
    assert settings["GOOGLE_CLOUD_PROJECT"] == PROJECT
    assert settings["KEEPER_DEAD_LETTER_SUBSCRIPTION"] == (
        f"projects/{PROJECT}/subscriptions/keeper-dead-letter-inbox"
    )
    assert settings["KEEPER_ALERTS_TOPIC"] == f"projects/{PROJECT}/topics/keeper-alerts"
    assert settings["KEEPER_NOTICES_TOPIC"] == NOTICES
    assert settings["WORKSPACE_EVENTS_API_ENDPOINT"] == "https://workspaceevents.googleapis.com/"
    assert settings["KEEPER_CHAT_API_ENDPOINT"] == "https://chat.googleapis.com/"
    assert settings["KEEPER_COLLECTION_PREFIX"] == "keeper"
    assert settings["KEEPER_OPERATION_DEADLINE_SECONDS"] == "20"  # from EXTRA_ENV_VARS
    functions = function_env(run)
    assert functions.pop("LOG_EXECUTION_ID") == "true"
    assert settings == functions
    assert not Path(shown[0].removesuffix(":")).exists()  # a dry run writes nothing


def test_the_firestore_location_is_asked_for_never_taken_from_the_region(tmp_path: Path) -> None:
    # GIVEN an env file without FIRESTORE_LOCATION, and a project with no database (the dry
    # run's answer to every existence check)
    env = env_file(tmp_path, "no-location", FIRESTORE_LOCATION="")
    result = subprocess.run(
        ["bash", str(DEPLOY / "deploy.sh"), "--dry-run", "--env-file", str(env)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN the deploy refuses before its first change, saying what to set and why
    assert result.returncode == 1
    assert f"set FIRESTORE_LOCATION in {env}" in result.stderr
    assert "can never be changed" in result.stderr
    assert result.stdout.splitlines() == [
        f"gcloud firestore databases describe '--database=(default)' --project={PROJECT}"
    ]


def deletions(run: DryRun) -> set[tuple[str, str]]:
    """(command group, name) of every delete command."""
    found = set()
    for argv in run.argvs():
        if "delete" in argv:
            i = argv.index("delete")
            found.add((" ".join(argv[1:i]), argv[i + 1]))
    return found


def test_teardown_deletes_what_deploy_made_but_never_the_apps_topic(
    runs: dict[str, DryRun],
) -> None:
    run = runs["teardown"]
    assert deletions(run) == {
        ("pubsub subscriptions", "keeper-lifecycle-push"),
        ("functions", "keeper-events"),
        ("scheduler jobs", "keeper-sweep"),
        ("functions", "keeper-sweep"),
        ("monitoring dashboards", f"projects/{PROJECT}/dashboards/DASHBOARD_ID"),
        ("logging metrics", "keeper_needs_attention"),
        ("logging metrics", "keeper_own_errors"),
        ("logging metrics", "keeper_renew_failed"),
        ("logging metrics", "keeper_sweep_runs"),
        ("pubsub subscriptions", "keeper-dead-letter-inbox"),
        ("pubsub topics", "keeper-dead-letter"),
        ("pubsub topics", "keeper-alerts"),
        ("pubsub topics", "keeper-sweep"),
        ("iam roles", "keeperTopicInspector"),
        ("iam service-accounts", SA),
        ("iam service-accounts", INVOKER),
    }
    assert len(run.matching("curl", "-G")) == 5
    assert [argv[-1] for argv in run.matching("curl", "DELETE")] == [
        f"{MONITORING}projects/{PROJECT}/alertPolicies/POLICY_ID"
    ] * 5
    # the app's topic stays, without the keeper's grants on it; the data only on request
    removed = {(argv[1], argv[4]) for argv in run.matching("remove-iam-policy-binding")}
    assert ("pubsub", "workspace-events") in removed
    bulk = run.one("firestore", "bulk-delete")
    assert "--collection-ids=keeper_subscriptions,keeper_names,keeper_events" in bulk
    assert not runs["default"].matching("delete")

    only = runs["teardown-events"]
    assert deletions(only) == {
        ("pubsub subscriptions", "keeper-lifecycle-push"),
        ("functions", "keeper-events"),
    }
    assert not only.matching("firestore", "bulk-delete")


def test_shellcheck_is_clean() -> None:
    shellcheck = require("shellcheck")
    scripts = sorted(str(p) for p in DEPLOY.glob("*.sh"))
    result = subprocess.run(
        [shellcheck, "--external-sources", "--source-path=SCRIPTDIR", *scripts],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the real-run paths, with a stand-in gcloud ----------------------------------------------

FAKE_GCLOUD = r"""#!/usr/bin/env bash
# Records its arguments; answers the lookups deploy.sh makes. FAKE_STATE=fresh: nothing
# exists (describe without --format fails); FAKE_STATE=deployed: everything does, the event
# function with an Eventarc trigger unless FAKE_EVENT_TYPE is set empty (the push filter).
printf '%s\n' "$*" >> "$FAKE_LOG"
case "$*" in
  *"value(projectNumber)"*) echo 123456789012 ;;
  *"value(eventTrigger.eventType)"*)
    echo "${FAKE_EVENT_TYPE-google.cloud.pubsub.topic.v1.messagePublished}" ;;
  *"value(eventTrigger.trigger)"*) echo projects/p/locations/r/triggers/keeper-events-1 ;;
  *"value(transport.pubsub.subscription)"*) echo projects/p/subscriptions/eventarc-sub ;;
  *"value(serviceConfig.uri)"*) echo https://keeper-events-abc-ew.a.run.app ;;
  *"value(deleted)"*) [[ $FAKE_STATE == deployed ]] && echo True ;;
  *"print-access-token"*) echo "$FAKE_TOKEN" ;;
  *"dashboards list"*) [[ $FAKE_STATE == deployed ]] && echo projects/p/dashboards/7 ;;
  *"get-iam-policy"*) [[ $FAKE_STATE == deployed ]] && echo roles/pubsub.admin ;;
  *" describe "*) [[ $FAKE_STATE == deployed ]] || exit 1 ;;
esac
exit 0
"""
FAKE_CURL = r"""#!/usr/bin/env bash
# Records its arguments and the header file it was given; answers the Monitoring API's list.
printf 'curl %s\n' "$*" >> "$FAKE_LOG"
for arg in "$@"; do
  [[ $arg == @*authorization.header ]] && cat "${arg#@}" >> "$FAKE_LOG.headers"
done
if [[ " $* " == *" -G "* && $FAKE_STATE == deployed ]]; then
  echo '{"alertPolicies": [{"name": "projects/p/alertPolicies/42"}]}'
else
  echo '{}'
fi
"""
FAKE_TOKEN = "ya29.fake-access-token"


def real_run(
    tmp: Path,
    state: str,
    env: Path,
    *args: str,
    script: str = "deploy.sh",
    event_type: str | None = None,
) -> list[str]:
    fake = tmp / "bin"
    fake.mkdir(exist_ok=True)
    for name, text in (("gcloud", FAKE_GCLOUD), ("curl", FAKE_CURL)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    log = tmp / f"{state}-{script}.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "KEEPER_"))}
    environ.update(
        PATH=f"{fake}:{os.environ['PATH']}",
        FAKE_LOG=str(log),
        FAKE_STATE=state,
        FAKE_TOKEN=FAKE_TOKEN,
    )
    if event_type is not None:
        environ["FAKE_EVENT_TYPE"] = event_type
    result = subprocess.run(
        ["bash", str(DEPLOY / script), "--env-file", str(env), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    # the access token reaches curl through the header file only: never an argument or output
    headers = Path(f"{log}.headers").read_text().splitlines()
    assert headers and set(headers) == {f"Authorization: Bearer {FAKE_TOKEN}"}
    assert FAKE_TOKEN not in result.stdout + result.stderr + "\n".join(calls)
    return calls


def test_a_real_run_on_a_fresh_project_creates_and_wires_what_it_looked_up(tmp_path: Path) -> None:
    calls = real_run(tmp_path, "fresh", env_file(tmp_path, "fresh"), "--eventarc")
    assert any(c.startswith("pubsub topics create keeper-dead-letter") for c in calls)
    assert any(c.startswith("scheduler jobs create pubsub keeper-sweep") for c in calls)
    assert any(c.startswith("iam roles create keeperTopicInspector") for c in calls)
    assert not any("iam roles undelete" in c for c in calls)
    agent = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert any(
        c.startswith("pubsub subscriptions update projects/p/subscriptions/eventarc-sub")
        and "--dead-letter-topic=" in c
        for c in calls
    )
    assert any(
        c.startswith("pubsub subscriptions add-iam-policy-binding projects/p/subscriptions/")
        and agent in c
        for c in calls
    )
    assert sum(c.startswith("curl ") and "-X POST" in c for c in calls) == 5
    assert any(c.startswith("monitoring dashboards create --config-from-file=") for c in calls)


@pytest.mark.parametrize("mode", ["default", "--eventarc"])
def test_a_second_real_run_updates_instead_of_creating(tmp_path: Path, mode: str) -> None:
    env = env_file(tmp_path, "again", KEEPER_FIX_TOPIC_IAM="false")
    if mode == "default":
        # the push filter's function has no event trigger; its subscription is updated
        calls = real_run(tmp_path, "deployed", env, event_type="")
        assert any(c.startswith("pubsub subscriptions update keeper-lifecycle-push") for c in calls)
    else:
        calls = real_run(tmp_path, "deployed", env, mode)
    assert not any(" create " in f" {c} " for c in calls if not c.startswith("firestore indexes"))
    assert any(c.startswith("scheduler jobs update pubsub keeper-sweep") for c in calls)
    assert any(c.startswith("iam roles undelete keeperTopicInspector") for c in calls)
    patches = [c for c in calls if c.startswith("curl ") and "-X PATCH" in c]
    assert len(patches) == 5
    assert all(c.endswith(f"{MONITORING}projects/p/alertPolicies/42") for c in patches)
    assert any(c.startswith("monitoring dashboards update projects/p/dashboards/7") for c in calls)
    assert any(c.startswith("logging metrics update keeper_sweep_runs") for c in calls)
    # the auto-fix was switched off: the earlier topic admin grant is taken back
    assert any(
        c.startswith("pubsub topics remove-iam-policy-binding workspace-events")
        and "roles/pubsub.admin" in c
        for c in calls
    )


def test_a_real_run_refuses_to_switch_the_trigger_kind_in_place(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gcloud").write_text(FAKE_GCLOUD)
    (fake / "gcloud").chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "KEEPER_"))}
    environ.update(
        PATH=f"{fake}:{os.environ['PATH']}", FAKE_LOG=str(tmp_path / "log"), FAKE_STATE="deployed"
    )
    result = subprocess.run(
        ["bash", str(DEPLOY / "deploy.sh"), "--env-file", str(TEST_ENV), "--push-filter"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "teardown.sh --only-event-function" in result.stderr
    assert "functions deploy" not in (tmp_path / "log").read_text()
    # the default mode too, saying how to keep the Eventarc trigger instead
    result = subprocess.run(
        ["bash", str(DEPLOY / "deploy.sh"), "--env-file", str(TEST_ENV)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "deploy with --eventarc (or PUSH_FILTER=false)" in result.stderr
    assert "functions deploy" not in (tmp_path / "log").read_text()


def test_a_real_run_in_the_default_mode_pushes_lifecycle_events_to_the_functions_url(
    tmp_path: Path,
) -> None:
    # GIVEN a fresh project and the default mode
    calls = real_run(tmp_path, "fresh", env_file(tmp_path, "fresh"))
    # THEN the filtered push subscription targets the URL the deploy looked up, with the
    # dead-letter policy, and the Pub/Sub agent may acknowledge on it when dead-lettering
    url = "https://keeper-events-abc-ew.a.run.app"
    create = next(c for c in calls if c.startswith("pubsub subscriptions create keeper-lifecycle"))
    assert f"--push-endpoint={url}/projects/{PROJECT}/topics/workspace-events" in create
    assert f"--push-auth-token-audience={url} " in create
    assert f"--message-filter={LIFECYCLE_FILTER}" in create
    assert "--dead-letter-topic=" in create
    assert any(
        c.startswith(
            f"pubsub subscriptions add-iam-policy-binding projects/{PROJECT}/subscriptions/"
            "keeper-lifecycle-push"
        )
        for c in calls
    )
    assert not any(c.startswith("eventarc ") for c in calls)


def test_a_real_run_writes_operator_settings_the_keeper_reads(tmp_path: Path) -> None:
    # GIVEN a deploy that ran to the end
    env = env_file(tmp_path, "ops")
    settings = tmp_path / "ops.operator.env"
    real_run(tmp_path, "fresh", env)
    # WHEN an operator sources the file as the deploy says, and the keeper reads its config
    read_config = (
        "from keeper.runtime.config import Config; import dataclasses, json; "
        "print(json.dumps(dataclasses.asdict(Config.from_env())))"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "KEEPER_"))}
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'set -a; . "$1"; set +a; exec "$2" -c {shlex.quote(read_config)}',
            "-",
            str(settings),
            sys.executable,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environ,
        timeout=60,
        check=False,
    )
    # THEN the CLI's configuration is the deployment's
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["project"] == PROJECT
    assert config["dead_letter_subscription"] == (
        f"projects/{PROJECT}/subscriptions/keeper-dead-letter-inbox"
    )
    assert config["alerts_topic"] == f"projects/{PROJECT}/topics/keeper-alerts"
    assert config["sweep_topic"] == f"projects/{PROJECT}/topics/keeper-sweep"
    assert config["fix_topic_iam"] is True
    assert config["operation_deadline_seconds"] == 20
    assert config["api_endpoint"] == "https://workspaceevents.googleapis.com/"


def test_a_real_run_needs_no_firestore_location_when_the_database_exists(tmp_path: Path) -> None:
    # GIVEN a project whose database exists, and no FIRESTORE_LOCATION
    env = env_file(tmp_path, "has-db", FIRESTORE_LOCATION="")
    calls = real_run(tmp_path, "deployed", env, event_type="")
    # THEN the deploy goes on and creates no database
    assert not any(c.startswith("firestore databases create") for c in calls)
    assert any(c.startswith("functions deploy keeper-events") for c in calls)


def test_a_real_teardown_of_a_deployed_project(tmp_path: Path) -> None:
    env = env_file(tmp_path, "down")
    settings = tmp_path / "down.operator.env"
    settings.write_text("GOOGLE_CLOUD_PROJECT=p\n")
    calls = real_run(tmp_path, "deployed", env, script="teardown.sh")
    assert not settings.exists()  # it named what is now gone
    assert any(c.startswith("functions delete keeper-events") for c in calls)
    assert any(
        c.startswith("curl ") and c.endswith(f"-X DELETE {MONITORING}projects/p/alertPolicies/42")
        for c in calls
    )
    assert any(c.startswith("monitoring dashboards delete projects/p/dashboards/7") for c in calls)
    assert any(c.startswith("iam service-accounts delete keeper-runtime@") for c in calls)
