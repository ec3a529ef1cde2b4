"""Alerts to humans: GIVEN a subscription that only a person can fix, WHEN the keeper learns
of it (once or many times), THEN exactly one alert per problem reaches the alerts topic."""

from keeper.domain.events import SUSPENDED
from keeper.domain.models import State
from keeper.domain.outcomes import Action


def test_a_revoked_scope_alerts_a_person_once(keeper_stack):
    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, "USER_SCOPE_REVOKED")
    keeper_stack.deliver()
    # the same news again: a redelivery with a new id, as Google may send
    keeper_stack.push(
        keeper_stack.lifecycle_message(
            SUSPENDED, sub.name, {"suspensionReason": "USER_SCOPE_REVOKED"}
        )
    )
    alerts = keeper_stack.alerts()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["kind"] == "needs_attention"
    assert alert["subscription"] == sub.name
    assert alert["auth"] == "delegated:alice@example.com"
    assert "re-consent" in alert["problem"]
    record = keeper_stack.record(sub.key)
    assert record.state is State.NEEDS_ATTENTION
    assert record.alerted_problem == record.last_problem
    outcomes = [(h.action, h.outcome) for h in keeper_stack.store.history(sub.key)]
    assert outcomes[-2:] == [(Action.FLAG, "flagged"), (Action.FLAG, "alerted")]


def test_a_new_problem_alerts_again(keeper_stack):
    from devstack.context import local_context

    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, "USER_SCOPE_REVOKED")
    keeper_stack.deliver()
    # GIVEN the user re-consented and an operator reactivated it by hand
    keeper_stack.control.fix_cause(sub.name)
    local_context().client_for(sub.auth, sub.event_types).reactivate(sub.name)
    # WHEN it is suspended again, for another reason a person must fix
    keeper_stack.control.suspend(sub.name, "RESOURCE_DELETED")
    keeper_stack.deliver()
    # THEN a second, different alert
    problems = [a["problem"] for a in keeper_stack.alerts()]
    assert len(problems) == 2
    assert "USER_SCOPE_REVOKED" in problems[0]
    assert "RESOURCE_DELETED" in problems[1]


def test_problems_the_keeper_fixes_alert_nobody(keeper_stack):
    sub = keeper_stack.register()
    keeper_stack.control.suspend(sub.name, "ENDPOINT_RESOURCE_EXHAUSTED", cause_fixed=True)
    keeper_stack.deliver()
    assert keeper_stack.record(sub.key).state is State.ACTIVE
    assert keeper_stack.alerts() == []
