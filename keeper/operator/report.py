"""`python -m keeper report --html FILE`: one self-contained page (no script, no external
resource) with every managed subscription and a timeline of upcoming expiries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from keeper.domain.gaps import replay_source
from keeper.domain.models import Gap, ManagedSubscription, Replay, State

TIMELINE_SPAN = timedelta(days=7)
_STATE_COLOURS = {
    State.ACTIVE: "#1e8e3e",
    State.SUSPENDED: "#f9ab00",
    State.NEEDS_ATTENTION: "#d93025",
    State.EXPIRED: "#5f6368",
}
# The table fits a 1,280 px window: a subscription shows as what it watches and its key; its
# name (about 100 characters, alike but in the middle) is in a tooltip and a detail row that
# wraps anywhere; long text wraps in its cell.
_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #202124; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px;
  border-bottom: 1px solid #dadce0; overflow-wrap: anywhere; }
th:nth-child(1) { width: 17%; } th:nth-child(2) { width: 14%; } th:nth-child(3) { width: 10%; }
th:nth-child(4) { width: 7%; } th:nth-child(5) { width: 11%; } th:nth-child(6) { width: 19%; }
.state { font-weight: 600; }
.problem, .gap.open { color: #d93025; }
code { font: 12px ui-monospace, monospace; }
.sub { font-weight: 600; }
details code { word-break: break-all; }
summary { color: #5f6368; cursor: pointer; font-size: 12px; }
small { color: #5f6368; }
#timeline { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #202124; }
svg .tick { fill: #5f6368; }
"""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """Count and noun: 1 subscription, 2 subscriptions (1 entry, 2 entries, with `nouns`)."""
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


def span(seconds: float) -> str:
    """A length of time as a person says it: "6d 23h", "3h 12m", "12 min", "under a minute"."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {rest // 60}m"
    return f"{rest // 60} min" if rest >= 60 else "under a minute"


def time_left(when: datetime | None, now: datetime) -> str:
    """A deadline: "6d 23h", "3h 12m", "expired 5 min ago", or "-"."""
    if when is None:
        return "-"
    seconds = (when - now).total_seconds()
    return span(seconds) if seconds >= 0 else f"expired {span(seconds)} ago"


def due(when: datetime, now: datetime) -> str:
    """When something is due: "in 6d 12h", "now", "overdue by 3 min"."""
    seconds = (when - now).total_seconds()
    if abs(seconds) < 60:
        return "now"
    return f"in {span(seconds)}" if seconds > 0 else f"overdue by {span(seconds)}"


def next_step(sub: ManagedSubscription, now: datetime) -> str:
    if sub.state is State.NEEDS_ATTENTION:
        check = sub.next_action_at if sub.next_action.value == "reactivate" else None
        return f"a person must act; next check {due(check, now)}" if check else "a person must act"
    if sub.next_action_at is None or sub.next_action.value == "nothing":
        return "-"
    return f"{sub.next_action} {due(sub.next_action_at, now)}"


def gap_line(sub: ManagedSubscription, gap: Gap) -> str:
    """A gap as a person reads it, with the API its events were read back from, if any."""
    source = replay_source(sub) if gap.replay is not Replay.OFF else None
    return gap.describe() + (f" from the {source}" if source else "")


def not_delivering(sub: ManagedSubscription, now: datetime) -> str:
    """The open gap, as a person reads it: "3h 12m (SUSPENDED: OTHER)", or "-"."""
    gap = sub.open_gap
    if gap is None:
        return "-"
    return f"{span((now - gap.start).total_seconds())} ({gap.why})"


def render_html(subs: Sequence[ManagedSubscription], now: datetime, project: str) -> str:
    counts = {state: sum(1 for s in subs if s.state is state) for state in State}
    summary = ", ".join(f"{n} {state.value}" for state, n in counts.items() if n) or "none"
    rows = "\n".join(_row(sub, now) for sub in subs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Workspace subscription keeper: {escape(project)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Workspace subscriptions kept alive in {escape(project)}</h1>
<p id="summary">{len(subs)} managed: {escape(summary)}. Generated {now:%Y-%m-%d %H:%M} UTC.</p>
<h2>Upcoming expiries (next {TIMELINE_SPAN.days} days)</h2>
{_timeline(subs, now)}
<h2>Subscriptions</h2>
<table id="subscriptions">
<thead><tr><th>Subscription (watching, key)</th><th>Authorized by</th><th>State</th>
<th>Expires in</th><th>Next action</th><th>Gaps in delivery</th><th>Last problem</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


def resource_label(target: str) -> str:
    """What a subscription watches, as a person names it: "Chat spaces/AAAA", "Meet
    spaces/abc", "users/123" (//cloudidentity…), from its target resource."""
    service, _, resource = target.removeprefix("//").partition("/")
    app = {"chat": "Chat", "meet": "Meet", "drive": "Drive"}.get(service.split(".")[0])
    return f"{app} {resource}" if app and resource else resource or target


def _row(sub: ManagedSubscription, now: datetime) -> str:
    name = escape(sub.name or "-")
    cells = [
        f'<span class="sub" title="{escape(sub.target_resource)}">'
        f"{escape(resource_label(sub.target_resource))}</span><br>"
        f"<small><code>{escape(sub.key)}</code></small>"
        f'<details title="{name}"><summary>full name</summary><code>{name}</code></details>',
        _authorized_by(sub),
        f'<span class="state" style="color:{_STATE_COLOURS[sub.state]}">'
        f"{sub.state.value.replace('_', '_<wbr>')}</span>",
        escape(time_left(sub.expire_time, now)),
        escape(next_step(sub, now)),
        _gaps(sub, now),
        f'<span class="problem">{escape(sub.last_problem or "")}</span>',
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _gaps(sub: ManagedSubscription, now: datetime) -> str:
    """The open gap first (how long it has lasted), then the closed ones, latest first."""
    parts = []
    gap = sub.open_gap
    if gap is not None:
        parts.append(
            f'<span class="gap open">not delivering for {escape(not_delivering(sub, now))}'
            f"</span><br><small>{escape(gap_line(sub, gap))}</small>"
        )
    closed = [g for g in reversed(sub.gaps) if not g.open]
    parts += [f'<small class="gap">{escape(g.describe())}</small>' for g in closed]
    return "<br>".join(parts) or "-"


def authorized_by(auth: str) -> tuple[str, str]:
    """Who authorized a subscription (so who must act when it needs a person), and how."""
    mode, _, value = auth.partition(":")
    if mode == "delegated":
        return value, "domain-wide delegation"
    if mode == "user-secret":
        return f"the user of {value.split('/secrets/')[-1].split('/')[0]}", "refresh token secret"
    return "the Chat app", "an administrator approves its scopes"


def _authorized_by(sub: ManagedSubscription) -> str:
    who, how = authorized_by(sub.auth)
    title = f' title="{escape(sub.authority)}"' if sub.authority else ""
    return f'<span class="who"{title}><b>{escape(who)}</b><br><small>{escape(how)}</small></span>'


def _timeline(subs: Sequence[ManagedSubscription], now: datetime) -> str:
    """An SVG as wide as the page: a labelled tick per day from now to now + span, and one
    marker per expiry within the span."""
    width, left, right, row, axis = 1000, 12, 988, 18, 30
    upcoming = sorted(
        (s for s in subs if s.expire_time and now <= s.expire_time <= now + TIMELINE_SPAN),
        key=lambda s: s.expire_time or now,
    )
    height = axis + 20 + row * len(upcoming)
    scale = (right - left) / TIMELINE_SPAN.total_seconds()
    parts = [
        f'<svg id="timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{plural(len(upcoming), "expiry", "expiries")} in the next '
        f'{TIMELINE_SPAN.days} days">',
        f'<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#5f6368" '
        'stroke-width="2"/>',
    ]
    for day in range(TIMELINE_SPAN.days + 1):
        x = left + day * 86400 * scale
        anchor = "start" if day == 0 else "end" if day == TIMELINE_SPAN.days else "middle"
        label = "now" if day == 0 else f"{now + timedelta(days=day):%a %d %b}"
        parts += [
            f'<line x1="{x:.0f}" y1="{axis - 5}" x2="{x:.0f}" y2="{axis + 5}" stroke="#5f6368"/>',
            f'<text class="tick" x="{x:.0f}" y="{axis - 10}" text-anchor="{anchor}">{label}</text>',
        ]
    for index, sub in enumerate(upcoming):
        assert sub.expire_time is not None
        x = left + (sub.expire_time - now).total_seconds() * scale
        y = axis + 22 + row * index
        colour = _STATE_COLOURS[sub.state]
        left_time = time_left(sub.expire_time, now)
        label = f"{resource_label(sub.target_resource)} in {left_time}"
        full = f"{sub.name or sub.key} in {left_time}"  # the tooltip: its full name
        anchor = "end" if x > width / 2 else "start"
        offset = -8 if anchor == "end" else 8
        parts.append(
            f'<g><title>{escape(full)}</title><circle cx="{x:.0f}" cy="{y - 4}" r="4" '
            f'fill="{colour}"/><text class="expiry" x="{x + offset:.0f}" y="{y}" '
            f'text-anchor="{anchor}">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
