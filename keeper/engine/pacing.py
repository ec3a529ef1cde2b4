"""Token buckets that keep the sweep under the Workspace Events API quota
(docs/api-reference.md §3).

Google counts requests per minute, per project and per authorizing user, separately for
writes (create, patch, delete, reactivate) and reads (get, list), and answers 429 past a
limit. The lifecycle handler draws on the same quota, so the sweep takes only its share and
paces every request through two buckets: the project's and the authorizing user's.

Per-minute limits are enforced over a moving window, which a bucket with a large burst would
overrun (a full burst followed by the refill of one window is more than the limit). So the
burst is one second's worth of the limit (enough to absorb a slow request without losing
pace) and the refill rate is what is left of the limit spread over the window plus a little
slack for the time a request spends between its token and Google's counter:
burst + rate x (window + slack) <= limit.

Clock and sleep are injected: tests pin them, and the benchmark's sleep moves the API
emulator's clock instead of waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

WINDOW_SECONDS = 60.0
SLACK_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
_ROUNDING = 1e-9


class Kind(StrEnum):
    READ = "read"  # get, list
    WRITE = "write"  # create, patch, delete, reactivate


@dataclass(frozen=True)
class Quota:
    """Requests per minute (docs/api-reference.md §3's defaults)."""

    writes_per_minute: float = 600
    writes_per_user_per_minute: float = 100
    reads_per_minute: float = 600
    reads_per_user_per_minute: float = 100

    def scaled(self, project: float, user: float) -> Quota:
        """A share of the project limits and of each user's."""
        return Quota(
            self.writes_per_minute * project,
            self.writes_per_user_per_minute * user,
            self.reads_per_minute * project,
            self.reads_per_user_per_minute * user,
        )

    def project_limit(self, kind: Kind) -> float:
        return self.writes_per_minute if kind is Kind.WRITE else self.reads_per_minute

    def user_limit(self, kind: Kind) -> float:
        return (
            self.writes_per_user_per_minute
            if kind is Kind.WRITE
            else self.reads_per_user_per_minute
        )

    def seconds_for(self, writes: int, most_by_one_user: int = 0) -> float:
        """The shortest time the write limits allow for `writes` requests, of which one user
        makes `most_by_one_user`."""
        minutes = max(
            writes / self.writes_per_minute, most_by_one_user / self.writes_per_user_per_minute
        )
        return minutes * WINDOW_SECONDS


class TokenBucket:
    """`burst` tokens at most, refilled continuously at `rate` per second."""

    def __init__(self, per_minute: float, now: float) -> None:
        burst = max(1.0, per_minute / WINDOW_SECONDS)
        if per_minute <= burst:
            raise ValueError(f"a limit of {per_minute}/min leaves nothing after a burst of {burst}")
        self.rate = (per_minute - burst) / (WINDOW_SECONDS + SLACK_SECONDS)
        self._burst = burst
        self._tokens = burst
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def wait(self, now: float) -> float:
        """Seconds until one token is there."""
        self._refill(now)
        missing = 1.0 - self._tokens
        # A sleep of exactly the computed wait can leave a rounding error short of a token.
        return missing / self.rate if missing > _ROUNDING else 0.0

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def hold(self, until: float) -> None:
        """Nothing until `until`: Google said 429, so our count was off; start again empty."""
        self._tokens = 0.0
        self._at = max(self._at, until)


class Pacer:
    """Buckets per (kind, project) and per (kind, user); one per sweep run (not thread-safe)."""

    def __init__(
        self,
        quota: Quota,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.quota = quota
        self.clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[Kind, str | None], TokenBucket] = {}
        self._backoff: dict[Kind, float] = {}
        self.waited = 0.0  # seconds slept for tokens or backoff, for the run's report

    def _bucket(self, kind: Kind, user: str | None) -> TokenBucket:
        bucket = self._buckets.get((kind, user))
        if bucket is None:
            limit = self.quota.project_limit(kind) if user is None else self.quota.user_limit(kind)
            bucket = self._buckets[(kind, user)] = TokenBucket(limit, self.clock())
        return bucket

    def delay(self, kind: Kind, user: str, count: int = 1) -> float:
        """How long `acquire` would wait now (a lower bound for count > 1)."""
        now = self.clock()
        wait = max(self._bucket(kind, None).wait(now), self._bucket(kind, user).wait(now))
        return wait + (count - 1) / min(
            self._bucket(kind, None).rate, self._bucket(kind, user).rate
        )

    def user_wait(self, kind: Kind, user: str) -> float:
        """Seconds until `user`'s own limit lets a request go."""
        return self._bucket(kind, user).wait(self.clock())

    def acquire(self, kind: Kind, user: str, count: int = 1) -> None:
        """Block until `count` requests of `kind` by `user` fit under both limits."""
        buckets = (self._bucket(kind, None), self._bucket(kind, user))
        for _ in range(count):
            while (wait := max(bucket.wait(self.clock()) for bucket in buckets)) > 0:
                self._pause(wait)
            now = self.clock()
            for bucket in buckets:
                bucket.take(now)

    def succeeded(self, kind: Kind) -> None:
        self._backoff.pop(kind, None)

    def rate_limited(self, kind: Kind, user: str) -> None:
        """Honour a 429: hold both buckets for an exponentially growing pause, then wait it."""
        pause = self._backoff.get(kind, FIRST_BACKOFF_SECONDS / 2) * 2
        self._backoff[kind] = min(pause, MAX_BACKOFF_SECONDS)
        until = self.clock() + self._backoff[kind]
        for bucket in (self._bucket(kind, None), self._bucket(kind, user)):
            bucket.hold(until)
        self._pause(self._backoff[kind])

    def _pause(self, seconds: float) -> None:
        self.waited += seconds
        self._sleep(seconds)
