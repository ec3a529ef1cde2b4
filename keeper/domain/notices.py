"""Notices to the app (docs/design.md, Notices): that a subscription needs a person, and that
it recovered. Which one is due, and what it says, decided on the record alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keeper.domain.models import ManagedSubscription, State
from keeper.domain.policy import suspension_policy

NEEDS_ATTENTION = "keeper.subscription.v1.needsAttention"
RECOVERED = "keeper.subscription.v1.recovered"


@dataclass(frozen=True)
class Notice:
    id: str  # stable per problem: a notice republished after a crash carries the same
    type: str
    subject: str  # the subscription's Google name
    time: datetime
    data: dict[str, Any]
    # The user who can fix it as the Chat API names users (`users/ID`), for a subscription
    # under a user's authority; None under the app's. Not published: it addresses the Chat
    # app's direct message (keeper/engine/direct_messages.py).
    user: str | None = None


def principal(sub: ManagedSubscription) -> str:
    """Who can fix it: the user's email, or `app` for the Chat app (its administrator)."""
    kind, _, argument = sub.auth.partition(":")
    if kind == "delegated":
        return argument
    if kind == "app":
        return "app"
    return (sub.authority or argument).removeprefix("users/")


def chat_user(sub: ManagedSubscription) -> str | None:
    """The authorizing user as the Chat API names them: the authority Google reports
    (`users/ID`), else, for delegation, `users/EMAIL`; None under the app's authority."""
    kind, _, argument = sub.auth.partition(":")
    if kind == "app":
        return None
    if sub.authority and sub.authority.startswith("users/"):
        return sub.authority
    return "users/" + argument if kind == "delegated" else None


def due_notice(sub: ManagedSubscription, now: datetime) -> Notice | None:
    """The notice the record calls for and has not had (`sub.notice`: the last one's id)."""
    gap = sub.gaps[-1] if sub.gaps else None
    about: dict[str, Any] = {
        "subscription": sub.name,
        "key": sub.key,
        "target": sub.target_resource,
        "principal": principal(sub),
    }
    if sub.state is State.NEEDS_ATTENTION and sub.last_problem:
        opened = gap.start if gap is not None and gap.open else None
        problem = f"{sub.last_problem}|{opened.isoformat() if opened else ''}"
        notice_id = f"{sub.key}/needsAttention/{hashlib.sha256(problem.encode()).hexdigest()[:16]}"
        if sub.notice == notice_id:
            return None
        reason = sub.suspension_reason or sub.last_problem
        advice = suspension_policy(sub.suspension_reason).advice if sub.suspension_reason else None
        since = opened or sub.updated_at or now
        data = {**about, "reason": reason, "remedy": advice or sub.last_problem}
        data["since"] = since.isoformat()
        return Notice(notice_id, NEEDS_ATTENTION, sub.name or "", now, data, chat_user(sub))
    told_attention = "/needsAttention/" in (sub.notice or "")
    if sub.state is State.ACTIVE and told_attention and gap is not None and gap.end is not None:
        window = {"start": gap.start.isoformat(), "end": gap.end.isoformat()}
        data = {**about, "reason": gap.detail or str(gap.cause), "gap": window}
        notice_id = f"{sub.key}/recovered/{gap.start.isoformat()}"
        return Notice(notice_id, RECOVERED, sub.name or "", now, data)
    return None
