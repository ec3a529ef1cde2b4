"""`python -m bench` rows for a mass outage: every managed subscription's gap replayed at once.

GIVEN 1,000 `--replay` subscriptions (Chat spaces, Meet spaces and Drive files in turn, 50
users), suspended at the Workspace Events API emulator while 20 events each happened there
(Chat messages posted, a meeting with nine participants coming and going, a file renamed and
edited: real records the replay reads back through the real clients over HTTP), and the
keeper's records as the lifecycle handler left them on the `suspended` events (SUSPENDED, the
gap open, the reactivation due), WHEN Google lets them deliver again (the cause fixed) and
the product's sweep runs tick after tick, 10 minutes apart on the emulator's clock, each tick
in a fresh process (`sweep.run` with the deployed defaults: 240 s budget, shards of 500, no
fan-out), THEN: the ticks and the sweep's wall time until every subscription is ACTIVE and no
replay is pending; the reads per API in its busiest minute against the share the keeper paces
for (the emulator's request log, timed on the emulator's clock, which the pacers' waits move:
the Google quotas are enforced there too, so a request over them is a 429); the events on the
apps' topics counted by ce-id against those made (0 lost, 0 doubled); the peak Python memory
of a sweep process (tracemalloc, started once its modules are imported).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
import tracemalloc
import urllib.request
import uuid
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from bench.figures import Figure
from bench.sweep_quota import EmulatorTime, write_records
from devstack.context import local_context
from devstack.stack import LocalStack, pubsub_rest
from emulator.control import EmulatorControl
from emulator.timefmt import parse_time
from keeper.domain.models import (
    Gap,
    GapCause,
    GapStart,
    ManagedSubscription,
    State,
    stable_key,
)
from keeper.domain.outcomes import Action
from keeper.engine.pacing import (
    CHAT_READS,
    DRIVE_ACTIVITY_READS,
    MEET_READS,
    REPLAY_QUOTA_SHARE,
    Pacer,
    Pacers,
    Quota,
)
from keeper.engine.reconstruct import replay_id
from keeper.store.firestore import FirestoreStore
from keeper.sweep import run as sweep
from workspace_client.models import Subscription

USERS = 50
EVENTS_EACH = 20
TICK_SECONDS = 600  # deploy/lib.sh: SWEEP_SCHEDULE "*/10 * * * *"
GOAL_TICKS = 10
MAX_TICKS = 3 * GOAL_TICKS  # past the goal, the true figure up to here
MEMORY_GOAL_MIB = 100
SEEDING_THREADS = 8

CHAT_TYPE = "google.workspace.chat.message.v1.created"
MEET = "google.workspace.meet."
MEET_TYPES = tuple(
    MEET + t for t in ("conference.v2.started", "conference.v2.ended",
                       "participant.v2.joined", "participant.v2.left")
)  # fmt: skip
FILE = "google.workspace.drive.file.v3."
DRIVE_TYPES = (FILE + "renamed", FILE + "contentChanged")


@dataclass(frozen=True)
class Target:
    app: str  # chat, meet, drive
    auth: str
    resource: str  # the target's own name: spaces/S, spaces/M, files/F
    event_types: tuple[str, ...]

    @property
    def target(self) -> str:
        return f"//{self.app}.googleapis.com/{self.resource}"


def targets(managed: int, tag: str) -> list[Target]:
    """Chat, Meet and Drive in turn, the users in turn."""
    kinds = (
        ("chat", "spaces/C", (CHAT_TYPE,)),
        ("meet", "spaces/M", MEET_TYPES),
        ("drive", "files/F", DRIVE_TYPES),
    )
    out = []
    for index in range(managed):
        app, prefix, types = kinds[index % 3]
        auth = f"delegated:user{index % USERS}@example.com"
        out.append(Target(app, auth, f"{prefix}{tag}{index}", types))
    return out


# -- seeding: through the API and the emulator's control surface, many calls at once ---------


def create(url: str, target: Target, topic: str) -> Subscription:
    """One subscription through the API (its quota not yet on), as `register` makes it."""
    body = {
        "targetResource": target.target,
        "eventTypes": list(target.event_types),
        "notificationEndpoint": {"pubsubTopic": topic},
    }
    request = urllib.request.Request(
        f"{url}v1/subscriptions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer emulator:{target.auth}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return Subscription.from_api(json.load(response)["response"])


def missed_events(control: EmulatorControl, target: Target) -> list[str]:
    """EVENTS_EACH events of the target made now, in order; their ce-ids as the replay
    names them (the SpaceEvent's name; (type, resource[, time]) for Meet and Drive)."""
    if target.app == "chat":
        return [
            control.post(target.resource, CHAT_TYPE, text=f"missed {n}")["spaceEvent"]["name"]
            for n in range(EVENTS_EACH)
        ]
    if target.app == "meet":
        record = control.meet_start(target.resource)["conferenceRecord"]["name"]
        ids = [replay_id(MEET + "conference.v2.started", record)]
        for person in range((EVENTS_EACH - 2) // 2):
            joined = control.meet_join(record, f"users/p{person}")
            session = joined["participantSession"]["name"]
            control.meet_leave(session)
            ids += [replay_id(MEET + f"participant.v2.{v}", session) for v in ("joined", "left")]
        control.meet_end(record)
        return [*ids, replay_id(MEET + "conference.v2.ended", record)]
    file_id = target.resource.removeprefix("files/")
    ids = []
    for n in range(EVENTS_EACH):
        event_type = DRIVE_TYPES[n % 2]
        title = {"title": f"v{n}"} if event_type.endswith("renamed") else {}
        activity = control.drive_change(file_id, event_type, **title)["activity"]
        ids.append(replay_id(event_type, target.resource, parse_time(activity["timestamp"])))
    return ids


def in_parallel(work: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    with ThreadPoolExecutor(SEEDING_THREADS) as pool:
        return list(pool.map(work, items))


@dataclass(frozen=True)
class Seeded:
    prefix: str
    expected: dict[str, list[str]]  # subscription name -> the ce-ids its gap swallowed
    pulls: dict[str, str]  # app -> the pull subscription on its topic
    gap_start: datetime


def seed(stack: LocalStack, control: EmulatorControl, managed: int) -> Seeded:
    tag = uuid.uuid4().hex[:6]
    prefix = f"outage{tag}"
    topics = {app: stack.topic(f"outage-{app}-{tag}") for app in ("chat", "meet", "drive")}
    pulls = {app: stack.subscribe(t, f"outage-{app}-{tag}") for app, t in topics.items()}
    subs = targets(managed, tag)
    drive_files = [t.resource.removeprefix("files/") for t in subs if t.app == "drive"]
    in_parallel(lambda f: control.drive_change(f, FILE + "created", title=f), drive_files)
    url = stack.emulator.url
    created = in_parallel(lambda t: create(url, t, topics[t.app]), subs)
    # Suspended, silently (the keeper's records say so below); the cause already gone, so
    # the keeper's reactivation succeeds once it is made.
    in_parallel(lambda s: control.suspend(s.name, "OTHER", silent=True, cause_fixed=True), created)
    control.advance(1)
    gap_start = control.now()
    control.advance(1)
    ids = in_parallel(lambda t: missed_events(control, t), subs)
    control.advance(1)
    now = control.now()
    records = [
        ManagedSubscription(
            key=stable_key(t.auth, t.target),
            auth=t.auth,
            target_resource=t.target,
            event_types=t.event_types,
            pubsub_topic=topics[t.app],
            name=api.name,
            expire_time=api.expire_time,
            state=State.SUSPENDED,
            suspension_reason="OTHER",
            next_action=Action.REACTIVATE,
            next_action_at=now,
            verified_at=gap_start,
            created_at=gap_start,
            updated_at=gap_start,
            gaps=(Gap(gap_start, GapCause.SUSPENDED, GapStart.EVENT, "OTHER"),),
            replay=True,
        )
        for t, api in zip(subs, created, strict=True)
    ]
    write_records(firestore.Client(project=stack.project), prefix, records)
    expected = {api.name: found for api, found in zip(created, ids, strict=True)}
    return Seeded(prefix, expected, pulls, gap_start)


# -- the sweep's ticks, each in a process of its own -----------------------------------------


@dataclass(frozen=True)
class Tick:
    wall_seconds: float
    peak_bytes: int


def one_tick(prefix: str) -> Tick:
    """One scheduled sweep, as an instance runs it: the local stack's context (the emulator's
    clock), its pacers waiting on that clock (a wait moves it: minutes of quota cost no wall
    time), the run's memory traced from here on."""
    base = local_context()
    emulator_time = EmulatorTime(EmulatorControl(base.config.api_endpoint))
    ctx = replace(
        base,
        config=replace(base.config, collection_prefix=prefix),
        store=FirestoreStore(firestore.Client(project=base.config.project), prefix),
        pacers=Pacers.for_replays(clock=emulator_time.clock, sleep=emulator_time.sleep),
    )
    share = ctx.config.sweep_quota_percent / 100
    pacer = Pacer(
        Quota().scaled(share, share), clock=emulator_time.clock, sleep=emulator_time.sleep
    )
    tracemalloc.start()
    started = time.perf_counter()
    sweep.run(ctx, pacer=pacer)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Tick(elapsed, peak)


def recovered(store: FirestoreStore) -> bool:
    return not store.pending_replays(1) and all(s.state is State.ACTIVE for s in store.all())


def sweep_until_recovered(stack: LocalStack, control: EmulatorControl, prefix: str) -> list[Tick]:
    store = FirestoreStore(firestore.Client(project=stack.project), prefix)
    ticks: list[Tick] = []
    spawn = multiprocessing.get_context("spawn")
    while len(ticks) < MAX_TICKS and not recovered(store):
        began = control.now()
        with ProcessPoolExecutor(1, mp_context=spawn) as process:
            ticks.append(process.submit(one_tick, prefix).result())
        sys.stderr.write(f"mass outage: tick {len(ticks)} in {ticks[-1].wall_seconds:.0f} s\n")
        # The scheduler's next tick, unless the pacers' waits moved the clock past it.
        waited = (control.now() - began).total_seconds()
        if waited < TICK_SECONDS:
            control.advance(TICK_SECONDS - waited)
    return ticks


# -- what reached the apps, and the reads against each quota ----------------------------------


def pulled(stack: LocalStack, subscription: str) -> list[dict[str, str]]:
    """The attributes of every message on the subscription's topic so far, acknowledged."""
    found: list[dict[str, str]] = []
    while True:
        answer = pubsub_rest(
            stack.pubsub.address, "POST", f"{subscription}:pull",
            {"maxMessages": 1000, "returnImmediately": True},
        )  # fmt: skip
        received = answer.get("receivedMessages", [])
        if not received:
            return found
        pubsub_rest(stack.pubsub.address, "POST", f"{subscription}:acknowledge",
                    {"ackIds": [m["ackId"] for m in received]})  # fmt: skip
        found += [m["message"].get("attributes", {}) for m in received]


def busiest_minute(times: Sequence[datetime]) -> int:
    """The most requests in any 60 s window (t - 60 s, t], as Google's and the emulator's
    sliding windows count them."""
    ordered = sorted(times)
    return max(
        (
            i - bisect_right(ordered, t - timedelta(seconds=60), hi=i) + 1
            for i, t in enumerate(ordered)
        ),
        default=0,
    )


@dataclass(frozen=True)
class ApiQuota:
    """An API's requests of one kind: which methods, what the keeper paces them for per
    project and per user (or space: `who`), and how the request log names that one."""

    name: str
    methods: Callable[[str], bool]
    project: float
    per_user: float
    who: str = "user"
    user_of: Callable[[dict[str, Any]], str] = lambda request: str(request["principal"])


def _space(request: dict[str, Any]) -> str:
    return "/".join(request["path"].split("/")[2:4])  # /v1/spaces/S/spaceEvents


def quotas(sweep_share: float) -> tuple[ApiQuota, ...]:
    """The replays' reads take REPLAY_QUOTA_SHARE of each API's quota, the sweep's own calls
    its share (KEEPER_SWEEP_QUOTA_PERCENT) of the Workspace Events API's."""
    share = REPLAY_QUOTA_SHARE
    events = Quota()
    return (
        ApiQuota("Chat API reads", lambda m: m.startswith("spaces."),
                 CHAT_READS.reads_per_minute * share, CHAT_READS.reads_per_user_per_minute * share,
                 "space", _space),
        ApiQuota("Meet REST API reads", lambda m: m.startswith("conferenceRecords."),
                 MEET_READS.reads_per_minute * share, MEET_READS.reads_per_user_per_minute * share),
        ApiQuota("Drive Activity API reads", lambda m: m.startswith("activity."),
                 DRIVE_ACTIVITY_READS.reads_per_minute * share,
                 DRIVE_ACTIVITY_READS.reads_per_user_per_minute * share),
        ApiQuota("Workspace Events API reads",
                 lambda m: m in ("subscriptions.list", "subscriptions.get"),
                 events.reads_per_minute * sweep_share,
                 events.reads_per_user_per_minute * sweep_share),
        ApiQuota("Workspace Events API writes", lambda m: m == "subscriptions.reactivate",
                 events.writes_per_minute * sweep_share,
                 events.writes_per_user_per_minute * sweep_share),
    )  # fmt: skip


def quota_figures(
    requests: Sequence[dict[str, Any]], sweep_share: float, size: str
) -> list[Figure]:
    figures = []
    for quota in quotas(sweep_share):
        mine = [r for r in requests if r["method"] and quota.methods(r["method"])]
        times = [parse_time(r["time"]) for r in mine]
        per_user: dict[str, list[datetime]] = defaultdict(list)
        for request, at in zip(mine, times, strict=True):
            per_user[quota.user_of(request)].append(at)
        project = busiest_minute(times)
        user = max((busiest_minute(t) for t in per_user.values()), default=0)
        refused = sum(1 for r in mine if r["status"] == 429)
        figures.append(
            Figure(
                f"mass outage ({size}): {quota.name}, busiest minute",
                f"≤ {quota.project:,.0f}/min, ≤ {quota.per_user:,.0f} per {quota.who}",
                (float(project),),
                "requests",
                passed=project <= quota.project and user <= quota.per_user and refused == 0,
                note=f"{len(mine):,} in all, busiest {quota.who} {user}/min, {refused} × 429; "
                "emulator clock",
            )
        )
    return figures


def run(stack: LocalStack, managed: int = 1000) -> list[Figure]:
    control = EmulatorControl(stack.emulator.url)
    control.reset()
    started = time.perf_counter()
    seeded = seed(stack, control, managed)
    sys.stderr.write(f"mass outage: seeded {managed:,} in {time.perf_counter() - started:.0f} s\n")
    # Google's documented limits from here on: a request over them is answered 429.
    control.configure(quota={"enabled": True})
    control.clear_requests()
    ticks = sweep_until_recovered(stack, control, seeded.prefix)
    requests = control.requests()
    store = FirestoreStore(firestore.Client(project=stack.project), seeded.prefix)
    done = recovered(store)
    arrived = [a for pull in seeded.pulls.values() for a in pulled(stack, pull)]
    replays = [a for a in arrived if a.get("ce-keeperreplay") == "true"]
    seen = Counter((a["ce-source"].rsplit("/", 1)[-1], a["ce-id"]) for a in replays)
    wanted = {(name.split("/")[-1], i) for name, ids in seeded.expected.items() for i in ids}
    lost = len(wanted - set(seen))
    doubled = sum(n - 1 for n in seen.values()) + len(set(seen) - wanted)
    wall = sum(t.wall_seconds for t in ticks)
    peak = max((t.peak_bytes for t in ticks), default=0) / 2**20
    size = f"{managed:,} subscriptions × {EVENTS_EACH} events"
    quota_seconds = (
        max((parse_time(r["time"]) for r in requests), default=seeded.gap_start)
        - min((parse_time(r["time"]) for r in requests), default=seeded.gap_start)
    ).total_seconds()
    return [
        Figure(f"mass outage ({size}): sweep ticks until all replayed", f"≤ {GOAL_TICKS}",
               (float(len(ticks)),), "ticks", passed=done and len(ticks) <= GOAL_TICKS,
               note=("all ACTIVE, none pending" if done else f"NOT done after {len(ticks)}")
               + f"; ticks 10 min apart, first to last request {quota_seconds / 60:.0f} min "
               "on the emulator clock"),
        Figure(f"mass outage ({size}): sweep wall time", "(reported)", (wall,), "s",
               passed=done, note=" + ".join(f"{t.wall_seconds:.0f}" for t in ticks)
               + " s; tracemalloc on"),
        Figure(f"mass outage ({size}): events on the apps' topics", f"= {len(wanted):,}, "
               "0 lost, 0 doubled", (float(len(replays)),), "messages",
               passed=lost == 0 and doubled == 0 and len(replays) == len(wanted),
               note=f"{lost} lost, {doubled} doubled, counted by (subscription, ce-id); "
               f"{len(arrived) - len(replays)} not replays"),
        *quota_figures(requests, local_context().config.sweep_quota_percent / 100, size),
        Figure(f"mass outage ({size}): peak Python memory of a sweep", f"≤ {MEMORY_GOAL_MIB} MiB",
               (peak,), "MiB", passed=peak <= MEMORY_GOAL_MIB,
               note="tracemalloc in each tick's own process, from its imports on; the largest"),
    ]  # fmt: skip
