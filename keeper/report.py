"""`python -m keeper report --html FILE`: one self-contained page (no script, no external
resource) with every managed subscription and a timeline of upcoming expiries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from keeper.models import ManagedSubscription, State

TIMELINE_SPAN = timedelta(days=7)
_STATE_COLOURS = {
    State.ACTIVE: "#1e8e3e",
    State.SUSPENDED: "#f9ab00",
    State.NEEDS_ATTENTION: "#d93025",
    State.EXPIRED: "#5f6368",
}
_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #202124; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #dadce0; }
.state { font-weight: 600; }
.problem { color: #d93025; }
svg text { font: 11px system-ui, sans-serif; }
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
        return "a person must act"
    if sub.next_action_at is None or sub.next_action.value == "nothing":
        return "-"
    return f"{sub.next_action} {due(sub.next_action_at, now)}"


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
<thead><tr><th>Key</th><th>Name</th><th>Target</th><th>State</th><th>Expires in</th>
<th>Next action</th><th>Last problem</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


def _row(sub: ManagedSubscription, now: datetime) -> str:
    cells = [
        escape(sub.key),
        escape(sub.name or "-"),
        escape(sub.target_resource),
        f'<span class="state" style="color:{_STATE_COLOURS[sub.state]}">{sub.state.value}</span>',
        escape(time_left(sub.expire_time, now)),
        escape(next_step(sub, now)),
        f'<span class="problem">{escape(sub.last_problem or "")}</span>',
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _timeline(subs: Sequence[ManagedSubscription], now: datetime) -> str:
    """An SVG: one marker per expiry within the span, on a line from now to now + span."""
    width, left, right, row = 900, 10, 890, 18
    upcoming = sorted(
        (s for s in subs if s.expire_time and now <= s.expire_time <= now + TIMELINE_SPAN),
        key=lambda s: s.expire_time or now,
    )
    height = 40 + row * len(upcoming)
    scale = (right - left) / TIMELINE_SPAN.total_seconds()
    parts = [
        f'<svg id="timeline" width="{width}" height="{height}" role="img" '
        f'aria-label="{len(upcoming)} expiries in the next {TIMELINE_SPAN.days} days">',
        f'<line x1="{left}" y1="20" x2="{right}" y2="20" stroke="#5f6368"/>',
    ]
    for day in range(TIMELINE_SPAN.days + 1):
        x = left + day * 86400 * scale
        parts.append(f'<text x="{x:.0f}" y="12">+{day}d</text>')
    for index, sub in enumerate(upcoming):
        assert sub.expire_time is not None
        x = left + (sub.expire_time - now).total_seconds() * scale
        y = 36 + row * index
        colour = _STATE_COLOURS[sub.state]
        label = f"{sub.name or sub.key} in {time_left(sub.expire_time, now)}"
        parts.append(f'<circle cx="{x:.0f}" cy="{y - 4}" r="4" fill="{colour}"/>')
        anchor = "end" if x > width / 2 else "start"
        offset = -8 if anchor == "end" else 8
        parts.append(
            f'<text class="expiry" x="{x + offset:.0f}" y="{y}" text-anchor="{anchor}">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
