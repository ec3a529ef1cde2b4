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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from workspace_client.errors import RateLimited

T = TypeVar("T")

WINDOW_SECONDS = 60.0
SLACK_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
_ROUNDING = 1e-9
# Retries of a request Google answered 429, each after a doubling pause (Pacer.call).
RATE_LIMIT_RETRIES = 3


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


class OutOfTime(Exception):
    """The request could not go before the caller's time budget ends."""


class Pacer:
    """Buckets per (kind, project) and per (kind, user), and the one owner of a 429's retries:
    `call`. Thread-safe (a replay's pace is shared by an instance's requests); a waiting caller
    holds no lock while it sleeps, so one user's wait never stalls another's requests."""

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
        self._lock = threading.Lock()
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
        with self._lock:
            now = self.clock()
            project, own = self._bucket(kind, None), self._bucket(kind, user)
            wait = max(project.wait(now), own.wait(now))
            return wait + (count - 1) / min(project.rate, own.rate)

    def user_wait(self, kind: Kind, user: str) -> float:
        """Seconds until `user`'s own limit lets a request go."""
        with self._lock:
            return self._bucket(kind, user).wait(self.clock())

    def acquire(self, kind: Kind, user: str, count: int = 1) -> None:
        """Block until `count` requests of `kind` by `user` fit under both limits."""
        for _ in range(count):
            while (wait := self._take(kind, user)) > 0:
                self._pause(wait)

    def _take(self, kind: Kind, user: str) -> float:
        """Take a token from both buckets if both have one (0), else the wait for them."""
        with self._lock:
            now = self.clock()
            buckets = (self._bucket(kind, None), self._bucket(kind, user))
            wait = max(bucket.wait(now) for bucket in buckets)
            if wait == 0:
                for bucket in buckets:
                    bucket.take(now)
            return wait

    def succeeded(self, kind: Kind) -> None:
        with self._lock:
            self._backoff.pop(kind, None)

    def rate_limited(self, kind: Kind, user: str) -> None:
        """Honour a 429: hold both buckets for an exponentially growing pause, then wait it."""
        with self._lock:
            pause = min(self._backoff.get(kind, FIRST_BACKOFF_SECONDS / 2) * 2, MAX_BACKOFF_SECONDS)
            self._backoff[kind] = pause
            until = self.clock() + pause
            for bucket in (self._bucket(kind, None), self._bucket(kind, user)):
                bucket.hold(until)
        self._pause(pause)

    def call(
        self,
        kind: Kind,
        user: str,
        attempt: Callable[[], T],
        *,
        requests: int = 1,
        ends_at: float | None = None,
        acquire: bool = True,
    ) -> T:
        """`attempt()` under the pace, `requests` tokens each time (`acquire=False`: the
        attempt takes its own, as a listing does per page); a 429 is retried here, after a
        doubling pause, at most RATE_LIMIT_RETRIES times, then raised. Raises OutOfTime when
        the next try could not start before `ends_at`. Its clients raise a 429 at once: this
        is the one retry of it, never stacked on another."""
        retries = 0
        while True:
            if ends_at is not None and self.clock() + self.delay(kind, user, requests) > ends_at:
                raise OutOfTime(f"{kind} by {user}")
            if acquire:
                self.acquire(kind, user, requests)
            try:
                result = attempt()
            except RateLimited:
                self.rate_limited(kind, user)
                retries += 1
                if retries > RATE_LIMIT_RETRIES:
                    raise
                continue
            self.succeeded(kind)
            return result

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self.waited += seconds
        self._sleep(seconds)


# The Chat API's usage limits (docs/replay.md): reads per 60 s, per project (3,000 for each
# read family) and per space (900, shared by every app acting in the space). Which family
# spaceEvents.list is charged to is not on the page, so a replay paces under both, taking half
# of each and leaving the rest to the app. The pacer's per-user bucket is keyed by the space.
CHAT_READS = Quota(reads_per_minute=3000, reads_per_user_per_minute=900)
# The Meet REST API publishes 6,000 reads a minute per project and 600 per user; Drive
# Activity publishes none, so its reads are paced as the Workspace Events API's and a 429 is
# the signal (docs/replay.md, Quotas).
MEET_READS = Quota(reads_per_minute=6000, reads_per_user_per_minute=600)
DRIVE_ACTIVITY_READS = Quota()
REPLAY_QUOTA_SHARE = 0.5


@dataclass(frozen=True)
class Pacers:
    """One pace per API an instance reads to replay, shared by every replay it runs (the
    sweep's and the prompt ones alike): held by the instance's context."""

    chat: Pacer  # a bucket per space
    meet: Pacer  # a bucket per subscription's principal
    drive_activity: Pacer  # likewise

    @classmethod
    def for_replays(
        cls,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacers:
        share = REPLAY_QUOTA_SHARE
        return cls(
            *(
                Pacer(quota.scaled(share, share), clock=clock, sleep=sleep)
                for quota in (CHAT_READS, MEET_READS, DRIVE_ACTIVITY_READS)
            )
        )
