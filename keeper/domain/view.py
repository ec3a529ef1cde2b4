"""Google's view of one subscription, classified once for the three lifecycle handlers and the
sweep alike. Google's view is the truth; the record is a cache of it (docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from workspace_client.models import Subscription


class Seen(StrEnum):
    """What Google's answer says about a subscription."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"  # still returned, but its expireTime has passed: deleted for good
    GONE = "GONE"  # returned in state DELETED
    UNKNOWN = "UNKNOWN"  # returned in a state this keeper does not know: act on nothing
    NOT_FOUND = "NOT_FOUND"  # 404
    DENIED = "DENIED"  # 403 "(or it may not exist)" [unverified]: not there for this principal


@dataclass(frozen=True)
class View:
    """Google's view: the classification and, when Google returned one, the subscription."""

    seen: Seen
    api: Subscription | None = None

    @property
    def missing(self) -> bool:
        """Not there (any more) for the principal: recreation is the only way forward."""
        return self.seen in (Seen.EXPIRED, Seen.GONE, Seen.NOT_FOUND, Seen.DENIED)

    @property
    def live(self) -> bool:
        return self.seen in (Seen.ACTIVE, Seen.SUSPENDED)


def view_of(api: Subscription | None, now: datetime) -> View:
    """Classify a subscription Google returned (None: a listing or `get` confirmed it absent)."""
    if api is None:
        return View(Seen.NOT_FOUND)
    if api.state == "DELETED":
        return View(Seen.GONE, api)
    if api.state not in ("ACTIVE", "SUSPENDED"):
        return View(Seen.UNKNOWN, api)
    if api.expire_time is not None and api.expire_time <= now:
        # Expiry happens in two steps [unverified]: the `expired` event may be published
        # before `get` stops returning the subscription. Past its expireTime it is gone.
        return View(Seen.EXPIRED, api)
    return View(Seen(api.state), api)
