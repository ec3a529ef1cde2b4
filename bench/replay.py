"""`python -m bench` rows for replays: republishing the missed Chat events of one gap.

GIVEN a managed subscription with `--replay` whose gap swallowed N messages (posted through
the emulator's control surface while it was suspended), WHEN its replay runs to the end (the
first run, then the sweep's runs, each bounded by MAX_REPLAYED_PER_RUN), THEN: the Chat API
list calls (= pages), the publishes, events per second, the peak Python memory of the
replay, and the headroom left under the Chat API's read quota.
"""

from __future__ import annotations

import io
import time
import tracemalloc
import uuid
from datetime import timedelta

from bench.figures import Figure
from devstack.context import local_context
from devstack.stack import LocalStack
from emulator.control import EmulatorControl
from keeper.domain.models import Gap, GapCause, GapStart, Replay, Resumption
from keeper.domain.outcomes import Actor
from keeper.engine.replay import replay_pending
from keeper.operator.cli import main as keeper_cli

MESSAGE_CREATED = "google.workspace.chat.message.v1.created"
# The Chat API's usage limits: reads are 900 per 60 s per space, shared by every app acting
# in it (the per-project read quotas are 3,000 per 60 s): the tighter one bounds a replay.
SPACE_READS_PER_MINUTE = 900
GOAL_EVENTS_PER_SECOND = 50.0


def run(stack: LocalStack, events: int = 10_000) -> list[Figure]:
    control = EmulatorControl(stack.emulator.url)
    control.reset()
    ctx = local_context()
    space = f"spaces/R{uuid.uuid4().hex[:10]}"
    topic = stack.topic(f"replay-{uuid.uuid4().hex[:8]}")
    args = ["register", "--target", f"//chat.googleapis.com/{space}", "--event-type",
            MESSAGE_CREATED, "--topic", topic, "--auth", "delegated:bench@example.com",
            "--include-resource", "--replay"]  # fmt: skip
    assert keeper_cli(args, context=local_context, out=io.StringIO()) == 0
    current = next(
        v
        for v in (ctx.store.find(s.key) for s in ctx.store.all())
        if v and v.sub.target_resource == f"//chat.googleapis.com/{space}"
    )
    # the gap: suspended, N messages posted, then delivery resumed
    control.suspend(current.sub.name, "OTHER", silent=True)
    start = control.now()
    for number in range(events):
        control.post(space, MESSAGE_CREATED, text=f"missed {number}")
    control.advance(1)
    end = control.now()
    gap = Gap(start, GapCause.SUSPENDED, GapStart.GOOGLE, "OTHER", end, Resumption.REACTIVATED,
              Replay.PENDING)  # fmt: skip
    ctx.store.commit(current, current.sub.with_changes(gaps=(gap,)), None)
    control.clear_requests()
    tracemalloc.start()
    started = time.perf_counter()
    runs = 0
    while replay_pending(ctx, current.sub.key, Actor.SWEEP) is not None:
        runs += 1
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    lists = sum(1 for r in control.requests() if r["method"] == "spaces.spaceEvents.list")
    replayed = ctx.store.get(current.sub.key)
    assert replayed is not None
    published = replayed.sub.gaps[-1].replayed
    rate = published / elapsed
    # The documented per-space quota over the run's duration (at least its one-minute window)
    allowed = SPACE_READS_PER_MINUTE * max(elapsed, 60.0) / 60
    headroom = 1 - lists / allowed
    size = f"{events:,} missed events"
    return [
        Figure(f"replay ({size}): events per second", f"≥ {GOAL_EVENTS_PER_SECOND:.0f}/s",
               (rate,), "events/s", passed=rate >= GOAL_EVENTS_PER_SECOND and published == events,
               note=f"{published:,} published once each in {elapsed:.1f} s over {runs} runs"),
        Figure(f"replay ({size}): publishes", "= events", (float(published),), "messages",
               passed=published == events, note="batched, one ordering key, acknowledged "
               "before the ledger notes a page"),
        Figure(f"replay ({size}): Chat API list calls (pages)", "≤ events / 1,000 + runs",
               (float(lists),), "calls", passed=lists <= events // 1000 + runs + 1,
               note=f"quota headroom {headroom:.1%}: {lists} of the {allowed:.0f} reads "
               f"allowed at {SPACE_READS_PER_MINUTE}/min per space over the run"),
        Figure(f"replay ({size}): peak Python memory", "≤ 100 MiB",
               (peak / 2**20,), "MiB", passed=peak / 2**20 <= 100,
               note=str(timedelta(seconds=round(elapsed)))),
    ]  # fmt: skip
