"""`doctor` on what org-wide Chat subscriptions and Workspace add-on Chat apps need: GIVEN an
org-wide subscription (or KEEPER_CHAT_PUSH_SERVICE_ACCOUNT naming the add-ons service agent),
WHEN doctor runs, THEN it says what no API shows as a manual step (n/a, with the step), and
checks the add-ons service agent against the project's number."""

from __future__ import annotations

from devstack.context import local_context
from tests.functional.test_org_wide_chat import register
from tests.integration.test_doctor import (
    Recorded,
    doctor,
    healthy_project,
    on_google_cloud,
    statuses,
)

ADDON = "service-{number}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
RUNTIME = "keeper-runtime@{project}.iam.gserviceaccount.com"


def test_an_org_wide_subscription_gets_the_manual_step_for_its_approval(keeper_stack):
    # GIVEN an org-wide Chat subscription managed under --auth app
    assert register(keeper_stack)[0] == 0
    # WHEN doctor runs
    status, findings = doctor(context=local_context)
    # THEN the org-wide check says no API shows the approval, and names the step and scopes
    assert status == 0
    (finding,) = [f for (check, _), f in findings.items() if check == "org-wide-chat"]
    assert finding["status"] == "n/a"
    assert "administrator's approval" in finding["detail"]
    assert "Google Chat API > Configuration" in finding["fix"]
    assert "https://www.googleapis.com/auth/chat.app.all.messages.readonly" in finding["fix"]


def test_without_org_wide_subscriptions_or_an_add_on_nothing_is_said(keeper_stack):
    keeper_stack.register()
    _, findings = doctor()
    assert not {"org-wide-chat", "addon-push-identity"} & set(statuses(findings))


def with_addon(stack, monkeypatch, number: str, project_number: str):
    """The stack as a deployment whose Chat app is a Workspace add-on (the agent of project
    `number`), on a project whose number is `project_number`; the push account granted."""
    account = ADDON.format(number=number)
    monkeypatch.setenv("KEEPER_CHAT_PUSH_SERVICE_ACCOUNT", account)
    stack.register()
    responses = healthy_project(stack.project)
    responses["GET", f"https://cloudresourcemanager.googleapis.com/v1/projects/{stack.project}"] = (
        Recorded(200, {"projectId": stack.project, "projectNumber": project_number})
    )
    alerts = f"projects/{stack.project}/topics/keeper-alerts"
    publishers = {(stack.topic, account), (alerts, RUNTIME.format(project=stack.project))}
    return on_google_cloud(stack, responses, publishers)


def test_the_add_on_service_agent_of_this_project_passes(keeper_stack, monkeypatch):
    control_plane, context = with_addon(keeper_stack, monkeypatch, "4242", "4242")
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status == 0, findings
    assert statuses(findings)["addon-push-identity"] == {"ok"}
    assert statuses(findings)["push-publisher"] == {"ok"}  # the grant is to that agent


def test_another_projects_add_on_service_agent_fails_with_the_right_name(keeper_stack, monkeypatch):
    control_plane, context = with_addon(keeper_stack, monkeypatch, "1111", "4242")
    status, findings = doctor(control_plane=control_plane, context=context)
    assert status != 0
    (finding,) = [f for (check, _), f in findings.items() if check == "addon-push-identity"]
    assert finding["status"] == "FAIL"
    assert "project number 1111" in finding["detail"]
    assert ADDON.format(number="4242") in finding["fix"]


def test_on_the_local_stack_the_add_on_agent_cannot_be_compared(keeper_stack, monkeypatch):
    monkeypatch.setenv("KEEPER_CHAT_PUSH_SERVICE_ACCOUNT", ADDON.format(number="4242"))
    keeper_stack.register()
    _, findings = doctor(context=local_context)
    assert statuses(findings)["addon-push-identity"] == {"n/a"}


def test_a_malformed_add_on_agent_name_fails(keeper_stack, monkeypatch):
    monkeypatch.setenv(
        "KEEPER_CHAT_PUSH_SERVICE_ACCOUNT", "my-app@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
    )
    keeper_stack.register()
    _, findings = doctor(context=local_context)
    (finding,) = [f for (check, _), f in findings.items() if check == "addon-push-identity"]
    assert finding["status"] == "FAIL"
    assert "service-PROJECT_NUMBER@gcp-sa-gsuiteaddons" in finding["fix"]
