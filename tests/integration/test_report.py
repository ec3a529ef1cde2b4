"""`python -m keeper report --html FILE`, rendered by headless Chromium: GIVEN managed
subscriptions in several states, WHEN the report is written and rendered, THEN the rendered
page shows each one, who authorized it, its state, and the timeline of upcoming expiries,
which a screenshot shows across the page's width."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_cli import register, run
from tests.support.png import read_png

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(*args: str, tmp_path) -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is required (scripts/bootstrap.sh --test-tools installs it)")
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def render(path, tmp_path, window: str | None = None) -> str:
    size = [f"--window-size={window}"] if window else []
    return chromium(*size, "--dump-dom", path.as_uri(), tmp_path=tmp_path)


def screenshot(path, tmp_path, width: int = 1280, height: int = 900) -> Path:
    # KEEPER_REPORT_SCREENSHOT: keep the picture there, to look at it.
    shot = Path(os.environ.get("KEEPER_REPORT_SCREENSHOT", tmp_path / "report.png"))
    chromium(
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--screenshot={shot}",
        path.as_uri(),
        tmp_path=tmp_path,
    )
    return shot


def grey(pixel) -> bool:
    """The axis's grey (#5f6368), give or take anti-aliasing."""
    return max(pixel) < 200 and max(pixel) - min(pixel) < 30


def longest_grey_run(image) -> int:
    """The longest horizontal run of grey pixels, in any row: the timeline's axis."""
    best = 0
    for y in range(image.height):
        run_length = 0
        for x in range(image.width):
            run_length = run_length + 1 if grey(image.pixel(x, y)) else 0
            best = max(best, run_length)
    return best


def test_the_report_renders_every_subscription_and_the_timeline(keeper_stack, tmp_path):
    healthy = register(keeper_stack, target="//chat.googleapis.com/spaces/HEALTHY")
    broken = register(
        keeper_stack, target="//chat.googleapis.com/spaces/BROKEN", auth="delegated:bob@example.com"
    )
    by_app = register(keeper_stack, target="//chat.googleapis.com/spaces/APP", auth="app")
    keeper_stack.control.suspend(broken["name"], "USER_SCOPE_REVOKED")
    keeper_stack.deliver()
    page = tmp_path / "report.html"

    status, _ = run("report", "--html", str(page))

    assert status == 0
    dom = render(page, tmp_path)
    screenshot(page, tmp_path)  # to look at (KEEPER_REPORT_SCREENSHOT)
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", dom, flags=re.S)
    assert len(rows) == 3
    assert "3 managed: 2 ACTIVE, 1 NEEDS_ATTENTION" in dom
    assert all(sub["name"] in dom for sub in (healthy, broken, by_app))
    assert "re-consent" in dom
    assert "a person must act" in dom
    # who authorized each one, so who must act is named
    broken_row = next(row for row in rows if broken["name"] in row)
    assert "bob@example.com" in broken_row and "domain-wide delegation" in broken_row
    assert "the Chat app" in next(row for row in rows if by_app["name"] in row)
    # names, keys and targets are kept whole (no break at their hyphens)
    assert all(f"<code>{sub['name']}</code>" in dom for sub in (healthy, broken, by_app))
    # all expire within the day (ttl 86400s): one marker each on the timeline
    assert dom.count("<circle") == 3
    assert len(re.findall(r"<td>23h [0-9]+m</td>", dom)) == 3
    # the ticks are labelled: now, then a date per day; none is a bare "+"
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', dom)
    assert ticks[0] == "now" and len(ticks) == 8
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{2} [A-Z][a-z]{2}", t) for t in ticks[1:])


def test_the_timeline_spans_the_page_in_a_screenshot(keeper_stack, tmp_path):
    register(keeper_stack, target="//chat.googleapis.com/spaces/WIDE")
    page = tmp_path / "report.html"
    assert run("report", "--html", str(page))[0] == 0

    image = read_png(screenshot(page, tmp_path).read_bytes())

    # the axis runs across at least 85% of the window (it took 60% of 900 px before)
    assert image.width == 1280
    assert longest_grey_run(image) >= 0.85 * image.width


# What the layout gives: the page's width, the boxes that scroll sideways (content hidden in
# them), and whether the table's last column ends inside the window.
MEASURE = """<script>
const boxes = [...document.querySelectorAll("body *")];
const fit = {
  page: document.documentElement.scrollWidth,
  scrolling: boxes.filter(b => b.scrollWidth > b.clientWidth + 1
    && getComputedStyle(b).overflowX !== "visible").map(b => b.tagName),
  lastColumnInside: document.querySelector("th:last-child").getBoundingClientRect().right
    <= window.innerWidth,
};
const out = document.createElement("pre");
out.id = "fit";
out.textContent = JSON.stringify(fit);
document.body.append(out);
</script>"""


def white(pixel) -> bool:
    return min(pixel) >= 250


def test_the_report_fits_a_1280_px_window_with_nothing_cut_off(keeper_stack, tmp_path):
    # GIVEN subscriptions with Google's long names, in several states, one with a long problem
    subs = [
        register(keeper_stack, target=f"//chat.googleapis.com/spaces/AAAAfits{n}") for n in range(3)
    ]
    keeper_stack.control.suspend(subs[0]["name"], "OTHER", cause_fixed=False)
    keeper_stack.control.suspend(subs[1]["name"], "USER_SCOPE_REVOKED")
    keeper_stack.deliver()
    assert all(len(sub["name"]) > 80 for sub in subs)
    page = tmp_path / "report.html"
    assert run("report", "--html", str(page))[0] == 0
    # WHEN it is rendered in a 1,280 px window, tall enough for the whole page
    image = read_png(screenshot(page, tmp_path, height=1400).read_bytes())
    # THEN nothing reaches the right margin: the page is no wider than the window (what is
    # wider would run into the margin, its row lines first), and the page ends in the window
    assert image.width == 1280
    margin = range(image.width - 16, image.width)
    assert all(white(image.pixel(x, y)) for x in margin for y in range(image.height))
    assert all(white(image.pixel(x, image.height - 1)) for x in range(image.width))
    # AND, measured in the page laid out at 1,280 px (a copy with a measuring script: the
    # report has none), no box is wider than the window or scrolls, and the last column ends
    # within the window
    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    fit = re.search(r'<pre id="fit">(.*?)</pre>', render(measured, tmp_path, "1280,1400"))
    assert fit is not None
    assert json.loads(fit.group(1)) == {"page": 1280, "scrolling": [], "lastColumnInside": True}
    # AND the timeline names each by its space, the full name in the marker's tooltip
    dom = render(page, tmp_path)
    labels = re.findall(r'<text class="expiry"[^>]*>([^<]*)</text>', dom)
    assert sorted(labels) == [f"Chat spaces/AAAAfits{n} in 23h 59m" for n in range(3)]
    assert all(f"<title>{sub['name']} in 23h 59m</title>" in dom for sub in subs)
