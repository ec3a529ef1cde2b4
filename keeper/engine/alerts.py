"""Telling a person what only a person can fix: one message per occurrence to an alerts topic.

Outbox order: the flag is committed first, then the alert is published, then the record notes
which problem was alerted (`alerted_problem`). A crash in between means a later delivery or
sweep publishes it again (at least once, never lost); an unchanged problem is never repeated.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keeper.domain.models import Gap, ManagedSubscription


@dataclass(frozen=True)
class Alert:
    key: str
    subscription: str | None
    target_resource: str
    auth: str  # who must act: the delegated user, the secret's owner, or the Chat app's admin
    authority: str | None
    problem: str
    at: str
    kind: str = "needs_attention"
    # The window without delivery that lasts now, if any: the events of that window were not
    # delivered, so the app may need to resync it.
    gap: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def about(
        cls,
        sub: ManagedSubscription,
        problem: str,
        at: datetime,
        kind: str = "needs_attention",
        gap: Gap | None = None,
    ) -> Alert:
        """The alert about `sub`: who must act, what, and the window without delivery."""
        return cls(
            sub.key,
            sub.name,
            sub.target_resource,
            sub.auth,
            sub.authority,
            problem,
            at.isoformat(),
            kind=kind,
            gap=gap.describe() if gap else None,
        )
