"""`python -m keeper doctor`: GIVEN a deployment with one prerequisite missing (or none), WHEN
the operator runs doctor, THEN that check fails with its fix (or all pass) and the exit status
says so. The keeper's own dependencies are the real local stack; the Google Cloud control
plane, which the local stack does not have, is a recorded double of its REST API."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest

from devstack.context import local_context
from devstack.stack import pubsub_rest as rest
from keeper.engine.endpoint import EndpointStatus, Grant
from keeper.operator.cli import main
from keeper.operator.doctor import REQUIRED_APIS, ControlPlane, control_plane_for
from tests.functional.test_replay_meet_drive import register

RUNTIME = "keeper-runtime@{project}.iam.gserviceaccount.com"
CHAT_PUSH = "chat-api-push@system.gserviceaccount.com"


class Recorded:
    """A response as `requests` gives it."""

    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self._body = body
        self.text = json.dumps(body)

    def json(self) -> Any:
        return self._body


class RecordedSession:
    """Answers each (method, URL without query) with a recorded response of Google's API."""

    def __init__(self, responses: dict[tuple[str, str], Recorded]) -> None:
        self.responses = responses
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Recorded:
        key = (method, url.split("?", 1)[0])
        self.calls.append(key)
        return self.responses[key]


def healthy_project(project: str, prefix: str = "keeper") -> dict[tuple[str, str], Recorded]:
    """What the control plane answers for a project deploy.sh set up."""
    account = RUNTIME.format(project=project)
    db = f"https://firestore.googleapis.com/v1/projects/{project}/databases/(default)"
    crm = f"https://cloudresourcemanager.googleapis.com/v1/projects/{project}"
    return {
        ("GET", f"https://serviceusage.googleapis.com/v1/projects/{project}/services"): Recorded(
            200,
            {
                "services": [
                    {"name": f"projects/123/services/{api}", "config": {"name": api}}
                    for api in (*REQUIRED_APIS, "cloudbuild.googleapis.com")
                ]
            },
        ),
        ("GET", db): Recorded(
            200,
            {"name": f"projects/{project}/databases/(default)", "type": "FIRESTORE_NATIVE"},
        ),
        ("GET", f"{db}/collectionGroups/-/indexes"): Recorded(200, {}),
        ("GET", f"{db}/collectionGroups/{prefix}_events/fields/expire_at"): Recorded(
            200,
            {
                "name": f"{db[38:]}/collectionGroups/{prefix}_events/fields/expire_at",
                "ttlConfig": {"state": "ACTIVE"},
            },
        ),
        ("POST", f"{crm}:getEffectiveOrgPolicy"): Recorded(
            200, {"constraint": "constraints/iam.allowedPolicyMemberDomains"}
        ),
        ("POST", f"{crm}:getIamPolicy"): Recorded(
            200,
            {
                "version": 1,
                "bindings": [
                    {"role": "roles/datastore.user", "members": [f"serviceAccount:{account}"]},
                    {"role": "roles/owner", "members": ["user:admin@example.com"]},
                ],
                "etag": "BwYJ1nYgPyk=",
            },
        ),
        (
            "POST",
            f"https://iam.googleapis.com/v1/projects/{project}/serviceAccounts/{account}"
            ":getIamPolicy",
        ): Recorded(
            200,
            {
                "bindings": [
                    {
                        "role": "roles/iam.serviceAccountTokenCreator",
                        "members": [f"serviceAccount:{account}"],
                    }
                ],
                "etag": "BwYJ1nYgPyk=",
            },
        ),
    }


@dataclasses.dataclass
class TopicIam:
    """The topics' IAM policies that the Pub/Sub emulator cannot hold: who may publish."""

    publishers: set[tuple[str, str]]
    real: Any

    def inspect(self, topic: str, member: str) -> EndpointStatus:
        exists = self.real.inspect(topic, member).topic_exists
        granted = (topic, member) in self.publishers
        return EndpointStatus(exists, Grant.GRANTED if granted else Grant.MISSING)

    def grant_publisher(self, topic: str, member: str) -> None:
        raise AssertionError("doctor changes no IAM")


def doctor(*args: str, control_plane=None, context=local_context) -> tuple[int, Any]:
    out = io.StringIO()
    status = main(
        ["doctor", *args, "--json"], context=context, out=out, control_plane=lambda: control_plane
    )
    return status, {(f["check"], f["detail"]): f for f in json.loads(out.getvalue())}


def statuses(findings: dict) -> dict[str, set[str]]:
    by_check: dict[str, set[str]] = {}
    for check, _ in findings:
        by_check.setdefault(check, set()).add(findings[check, _]["status"])
    return by_check


def on_google_cloud(stack, responses, publishers=None):
    """The context on the local stack, with topic IAM as `publishers` says (default: the
    push account and the runtime account granted where deploy.sh grants them)."""
    account = RUNTIME.format(project=stack.project)
    alerts = f"projects/{stack.project}/topics/keeper-alerts"
    if publishers is None:
        publishers = {(stack.topic, CHAT_PUSH), (alerts, account)}
    ctx = local_context()
    iam = TopicIam(publishers, ctx.endpoints)
    return ControlPlane(RecordedSession(responses)), lambda: dataclasses.replace(ctx, endpoints=iam)


# -- on the local stack -----------------------------------------------------------------------


def test_on_the_local_stack_every_check_that_applies_passes_and_says_which_do_not(keeper_stack):
    # GIVEN a managed subscription on the local stack
    keeper_stack.register()
    # WHEN doctor runs
    status, findings = doctor()
    # THEN exit 0; the control-plane checks say they cannot apply here; the rest pass
    assert status == 0
    assert statuses(findings) == {
        "apis": {"n/a"},
        "firestore": {"ok"},
        "firestore-indexes": {"n/a"},
        "topic": {"ok"},
        "push-publisher": {"n/a"},
        "runtime-roles": {"n/a"},
        "credentials": {"ok"},
        "alerts-publish": {"ok"},
    }
    assert all(
        "not on the local stack" in f["detail"] for f in findings.values() if f["status"] == "n/a"
    )
    # and the credentials check read the subscription at the API as its principal
    assert [c["method"] for c in keeper_stack.control.requests()][-1] == "subscriptions.get"
    # and the test message reached the alerts topic
    assert [a["kind"] for a in keeper_stack.alerts()] == ["test"]


def test_a_missing_topic_fails_with_the_command_that_creates_it(keeper_stack):
    keeper_stack.register()
    rest(keeper_stack.pubsub_host, "DELETE", keeper_stack.topic)
    status, findings = doctor()
    assert status == 1
    failed = [f for f in findings.values() if f["status"] == "FAIL"]
    assert [f["check"] for f in failed] == ["topic"]
    assert "gcloud pubsub topics create workspace-events" in failed[0]["fix"]


def test_credentials_the_api_refuses_fail_naming_the_principal(keeper_stack):
    keeper_stack.register()
    keeper_stack.control.add_fault("subscriptions.get", status=403, count=5)
    status, findings = doctor()
    assert status == 1
    (failed,) = [f for f in findings.values() if f["status"] == "FAIL"]
    assert failed["check"] == "credentials"
    assert "delegated:alice@example.com" in failed["detail"]
    assert "Domain-wide delegation" in failed["fix"]


def test_an_alerts_topic_that_is_gone_fails_the_test_publish(keeper_stack):
    rest(
        keeper_stack.pubsub_host, "DELETE", f"projects/{keeper_stack.project}/topics/keeper-alerts"
    )
    status, findings = doctor()
    assert status == 1
    assert {f["check"] for f in findings.values() if f["status"] == "FAIL"} == {
        "topic",
        "alerts-publish",
    }


def test_no_alerts_topic_configured_fails(keeper_stack, monkeypatch):
    monkeypatch.delenv("KEEPER_ALERTS_TOPIC")
    status, findings = doctor()
    assert status == 1
    (failed,) = [f for f in findings.values() if f["status"] == "FAIL"]
    assert failed["check"] == "alerts-publish" and "KEEPER_ALERTS_TOPIC" in failed["fix"]


def test_the_human_output_is_one_line_per_check_and_a_summary(keeper_stack):
    keeper_stack.register()
    out = io.StringIO()
    assert main(["doctor"], context=local_context, out=out, control_plane=lambda: None) == 0
    lines = out.getvalue().splitlines()
    assert lines[-1] == "all checks passed"
    assert all(line.split()[0] in {"ok", "n/a"} for line in lines[:-1])
    assert len(lines) == 9 + 1  # apis, firestore (2), 2 topics, grant, roles, token, publish


# -- against Google Cloud (recorded control plane) -------------------------------------------


def test_a_healthy_deployment_passes_every_check(keeper_stack):
    keeper_stack.register()
    control_plane, context = on_google_cloud(keeper_stack, healthy_project(keeper_stack.project))
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status == 0, findings
    assert {s for group in statuses(findings).values() for s in group} == {"ok"}


@pytest.mark.parametrize(
    ("check", "break_it", "fix"),
    [
        (
            "apis",
            lambda r, p: r.update(
                {
                    ("GET", f"https://serviceusage.googleapis.com/v1/projects/{p}/services"): (
                        Recorded(200, {"services": [{"config": {"name": "pubsub.googleapis.com"}}]})
                    )
                }
            ),
            "gcloud services enable",
        ),
        (
            "firestore",
            lambda r, p: r.update(
                {
                    (
                        "GET",
                        f"https://firestore.googleapis.com/v1/projects/{p}/databases/(default)",
                    ): Recorded(
                        404,
                        {
                            "error": {
                                "code": 404,
                                "message": f"Project '{p}' or database '(default)' does not exist.",
                                "status": "NOT_FOUND",
                            }
                        },
                    )
                }
            ),
            "gcloud firestore databases create",
        ),
        (
            "firestore-indexes",
            lambda r, p: r.update(
                {
                    (
                        "GET",
                        f"https://firestore.googleapis.com/v1/projects/{p}/databases/(default)"
                        "/collectionGroups/keeper_events/fields/expire_at",
                    ): Recorded(200, {"ttlConfig": {"state": "CREATING"}})
                }
            ),
            "gcloud firestore fields ttls update expire_at",
        ),
        (
            "firestore-indexes",
            lambda r, p: r.update(
                {
                    (
                        "GET",
                        f"https://firestore.googleapis.com/v1/projects/{p}/databases/(default)"
                        "/collectionGroups/-/indexes",
                    ): Recorded(
                        200,
                        {
                            "indexes": [
                                {
                                    "name": f"projects/{p}/databases/(default)/collectionGroups/"
                                    "keeper_subscriptions/indexes/CICAgJiUpoMK",
                                    "state": "CREATING",
                                }
                            ]
                        },
                    )
                }
            ),
            "wait for them to build",
        ),
        (
            "runtime-roles",
            lambda r, p: r.update(
                {
                    (
                        "POST",
                        f"https://cloudresourcemanager.googleapis.com/v1/projects/{p}:getIamPolicy",
                    ): Recorded(200, {"bindings": [], "etag": "BwYJ1nYgPyk="})
                }
            ),
            "deploy/deploy.sh",
        ),
        (
            "runtime-roles",
            lambda r, p: r.update(
                {
                    (
                        "POST",
                        f"https://iam.googleapis.com/v1/projects/{p}/serviceAccounts/"
                        f"{RUNTIME.format(project=p)}:getIamPolicy",
                    ): Recorded(200, {"etag": "ACAB"})
                }
            ),
            "deploy/deploy.sh",
        ),
    ],
    ids=["apis", "no-database", "ttl-creating", "index-creating", "project-role", "token-creator"],
)
def test_each_control_plane_prerequisite_missing_fails_with_its_fix(
    keeper_stack, check, break_it, fix
):
    keeper_stack.register()
    responses = healthy_project(keeper_stack.project)
    break_it(responses, keeper_stack.project)
    control_plane, context = on_google_cloud(keeper_stack, responses)
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status == 1
    failed = [f for f in findings.values() if f["status"] == "FAIL"]
    assert [f["check"] for f in failed] == [check]
    assert fix in failed[0]["fix"]


def test_a_missing_push_grant_fails_and_names_an_org_policy_that_blocks_it(keeper_stack):
    # GIVEN the push account not granted, under a domain restriction to the company's customer
    keeper_stack.register()
    project = keeper_stack.project
    responses = healthy_project(project)
    responses[
        (
            "POST",
            f"https://cloudresourcemanager.googleapis.com/v1/projects/{project}"
            ":getEffectiveOrgPolicy",
        )
    ] = Recorded(
        200,
        {
            "constraint": "constraints/iam.allowedPolicyMemberDomains",
            "listPolicy": {"allowedValues": ["C03abc123"]},
            "etag": "BwYJ1nYgPyk=",
        },
    )
    alerts = f"projects/{project}/topics/keeper-alerts"
    control_plane, context = on_google_cloud(
        keeper_stack, responses, {(alerts, RUNTIME.format(project=project))}
    )
    # WHEN doctor runs
    status, findings = doctor(control_plane=control_plane, context=context)
    # THEN the grant fails, and its fix says the org policy must allow it first
    assert status == 1
    (failed,) = [f for f in findings.values() if f["status"] == "FAIL"]
    assert failed["check"] == "push-publisher"
    assert CHAT_PUSH in failed["detail"]
    assert "iam.allowedPolicyMemberDomains" in failed["fix"]
    assert "add-iam-policy-binding workspace-events" in failed["fix"]


def test_a_missing_push_grant_without_an_org_policy_gives_the_grant_command(keeper_stack):
    keeper_stack.register()
    project = keeper_stack.project
    alerts = f"projects/{project}/topics/keeper-alerts"
    control_plane, context = on_google_cloud(
        keeper_stack, healthy_project(project), {(alerts, RUNTIME.format(project=project))}
    )
    _, findings = doctor(control_plane=control_plane, context=context)
    (failed,) = [f for f in findings.values() if f["status"] == "FAIL"]
    assert failed["fix"].startswith("gcloud pubsub topics add-iam-policy-binding")


def test_a_control_plane_that_refuses_is_reported_not_raised(keeper_stack):
    project = keeper_stack.project
    responses = healthy_project(project)
    responses[("GET", f"https://serviceusage.googleapis.com/v1/projects/{project}/services")] = (
        Recorded(
            403,
            {
                "error": {
                    "code": 403,
                    "message": "Permission denied to list services for consumer container",
                    "status": "PERMISSION_DENIED",
                }
            },
        )
    )
    control_plane, context = on_google_cloud(keeper_stack, responses)
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status == 1
    (failed,) = [f for f in findings.values() if f["status"] == "FAIL"]
    assert failed["check"] == "apis" and "Permission denied" in failed["detail"]


def test_without_a_gcloud_login_doctor_says_so_instead_of_a_traceback(keeper_stack, tmp_path):
    # GIVEN a deployment (no emulator) and a gcloud with no account logged in
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gcloud").write_text(
        "#!/bin/sh\necho 'ERROR: (gcloud.auth.print-access-token) You do not currently have an "
        "active account selected (fake).' >&2\nexit 1\n"
    )
    (fake / "gcloud").chmod(0o755)
    environ = {"PATH": f"{fake}:/usr/bin:/bin"}
    err = io.StringIO()
    # WHEN doctor runs
    status = main(
        ["doctor"],
        context=local_context,
        out=io.StringIO(),
        err=err,
        control_plane=lambda: control_plane_for(environ),
    )
    # THEN exit 1 with what to do
    assert status == 1
    assert "You do not currently have an active account selected (fake)" in err.getvalue()
    assert "gcloud auth login" in err.getvalue()


@pytest.mark.parametrize(
    ("target", "event_type", "push_account"),
    [
        (
            "//meet.googleapis.com/spaces/meetingroom1",
            "google.workspace.meet.conference.v2.started",
            "meet-api-event-push@system.gserviceaccount.com",
        ),
        (
            "//drive.googleapis.com/files/file1",
            "google.workspace.drive.file.v3.renamed",
            "drive-api-event-push@system.gserviceaccount.com",
        ),
    ],
)
def test_meet_and_drive_subscriptions_are_checked_against_their_own_push_account(
    keeper_stack, target, event_type, push_account
):
    # GIVEN a Meet or Drive subscription whose topic lets the Chat push account publish, but
    # not the account its app publishes with
    if "drive" in target:
        keeper_stack.control.drive_change("file1", "google.workspace.drive.file.v3.created")
    register(keeper_stack, target, (event_type,))
    project = keeper_stack.project
    topic = keeper_stack.topic
    alerts = f"projects/{project}/topics/keeper-alerts"
    granted = {(alerts, RUNTIME.format(project=project)), (topic, CHAT_PUSH)}
    control_plane, context = on_google_cloud(keeper_stack, healthy_project(project), granted)
    # WHEN doctor runs THEN the grant of its app's account is what fails, with its command
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status == 1
    (failed,) = [f for f in findings.values() if f["status"] == "FAIL"]
    assert failed["check"] == "push-publisher"
    assert push_account in failed["detail"] and CHAT_PUSH not in failed["detail"]
    assert f"--member=serviceAccount:{push_account}" in failed["fix"]
    # AND granted to that account, it passes
    granted = {(alerts, RUNTIME.format(project=project)), (topic, push_account)}
    control_plane, context = on_google_cloud(keeper_stack, healthy_project(project), granted)
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status == 0, [f for f in findings.values() if f["status"] == "FAIL"]
