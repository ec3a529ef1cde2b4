"""`python -m keeper report --html FILE`, rendered by headless Chromium: GIVEN managed
subscriptions in several states, WHEN the report is written and rendered, THEN the rendered
page shows each one, its state, and the timeline of upcoming expiries."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.integration.test_cli import register, run

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


def render(path, tmp_path) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is required (scripts/bootstrap.sh --test-tools installs it)")
    result = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_the_report_renders_every_subscription_and_the_timeline(keeper_stack, tmp_path):
    healthy = register(keeper_stack, target="//chat.googleapis.com/spaces/HEALTHY")
    broken = register(keeper_stack, target="//chat.googleapis.com/spaces/BROKEN")
    keeper_stack.control.suspend(broken["name"], "USER_SCOPE_REVOKED")
    keeper_stack.deliver()
    page = tmp_path / "report.html"

    status, _ = run("report", "--html", str(page))

    assert status == 0
    dom = render(page, tmp_path)
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", dom, flags=re.S)
    assert len(rows) == 2
    assert "2 managed: 1 ACTIVE, 1 NEEDS_ATTENTION" in dom
    assert healthy["name"] in dom and broken["name"] in dom
    assert "re-consent" in dom
    assert "a person must act" in dom
    # both expire within the day (ttl 86400s): one marker each on the timeline
    assert dom.count("<circle") == 2
    assert len(re.findall(r"<td>23h [0-9]+m</td>", dom)) == 2
