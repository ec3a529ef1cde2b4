"""Token buckets on a pinned clock: GIVEN a quota, WHEN the sweep asks for requests, THEN no
moving 60-second window holds more than the limit, and the run takes little more than the
floor the limit allows."""

from __future__ import annotations

from bisect import bisect_left

import pytest

from keeper.engine.pacing import (
    FIRST_BACKOFF_SECONDS,
    MAX_BACKOFF_SECONDS,
    SLACK_SECONDS,
    WINDOW_SECONDS,
    Kind,
    Pacer,
    Quota,
    TokenBucket,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def busiest_window(times: list[float], window: float) -> int:
    """The most grants inside any half-open window [t, t + window)."""
    ordered = sorted(times)
    return max(
        (bisect_left(ordered, start + window) - i for i, start in enumerate(ordered)), default=0
    )


def paced_grants(quota: Quota, users: int, requests: int, kind: Kind) -> tuple[FakeTime, dict]:
    fake = FakeTime()
    pacer = Pacer(quota, clock=fake.clock, sleep=fake.sleep)
    grants: dict[str, list[float]] = {}
    for i in range(requests):
        user = f"delegated:user{i % users}@example.com"
        pacer.acquire(kind, user)
        grants.setdefault(user, []).append(fake.now)
    return fake, grants


@pytest.mark.parametrize(
    ("quota", "users", "requests", "kind"),
    [
        (Quota(), 50, 2000, Kind.WRITE),  # the benchmark's shape: the project limit binds
        (Quota(), 2, 400, Kind.READ),  # two users: their own limit binds
        (Quota().scaled(0.9, 0.9), 50, 1500, Kind.WRITE),  # the sweep's default share
        (Quota().scaled(0.25, 1.0), 10, 300, Kind.WRITE),  # one of four shards
    ],
)
def test_no_window_exceeds_a_limit_even_with_a_second_of_transit(quota, users, requests, kind):
    _, grants = paced_grants(quota, users, requests, kind)
    everything = [t for times in grants.values() for t in times]
    window = WINDOW_SECONDS + SLACK_SECONDS
    assert busiest_window(everything, window) <= quota.project_limit(kind)
    for times in grants.values():
        assert busiest_window(times, window) <= quota.user_limit(kind)


def test_a_large_sweep_takes_within_three_percent_of_the_floor():
    # GIVEN 2,000 writes over 50 users under 600/min (per user 40, under its 100/min)
    fake, _ = paced_grants(Quota(), 50, 2000, Kind.WRITE)
    floor = 2000 / Quota().writes_per_minute * WINDOW_SECONDS  # the write limit's floor
    # THEN the run takes the floor (200 s) plus what the burst and the slack cost, no more
    assert floor == 200
    assert floor <= fake.now <= floor * 1.03


def test_a_429_holds_both_buckets_with_a_doubling_pause_that_success_resets():
    fake = FakeTime()
    pacer = Pacer(Quota(), clock=fake.clock, sleep=fake.sleep)
    user = "delegated:alice@example.com"
    for _ in range(8):
        pacer.rate_limited(Kind.WRITE, user)
    expected = [min(FIRST_BACKOFF_SECONDS * 2**i, MAX_BACKOFF_SECONDS) for i in range(8)]
    assert fake.slept == expected
    # the bucket starts empty after the pause: the next request waits a full token
    before = fake.now
    pacer.acquire(Kind.WRITE, user)
    assert fake.now - before == pytest.approx(1 / TokenBucket(100, 0).rate)
    pacer.succeeded(Kind.WRITE)
    pacer.rate_limited(Kind.WRITE, user)
    assert fake.slept[-1] == FIRST_BACKOFF_SECONDS


def test_reads_and_writes_are_separate_quotas():
    fake = FakeTime()
    pacer = Pacer(Quota(), clock=fake.clock, sleep=fake.sleep)
    pacer.acquire(Kind.WRITE, "app")
    assert pacer.delay(Kind.READ, "app") == 0
    assert pacer.delay(Kind.WRITE, "app") > 0


def test_delay_estimates_several_requests():
    pacer = Pacer(Quota(), clock=lambda: 0.0, sleep=lambda _: None)
    one_user_token = 1 / TokenBucket(100, 0).rate
    assert pacer.delay(Kind.WRITE, "app", 3) == pytest.approx(2 * one_user_token)


def test_a_limit_no_larger_than_the_burst_is_refused():
    with pytest.raises(ValueError, match="leaves nothing"):
        TokenBucket(1, 0)
