"""The workshop app in a real browser: Debian's chromium, headless, driven by Playwright.

The app is served by viz/serve.py in a subprocess (offline: Solara's front-end comes from the
installed solara-assets, and any request leaving this machine is blocked and counted). The
test waits on the server's own "ready" line and on page elements, never on the clock.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from viz.charts import COMPARE_SERIES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it"
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "viz" / "serve.py"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    watchdog = threading.Timer(120, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    url = None
    for line in proc.stdout:  # the server's own ready line: no polling
        m = re.search(r"ready at (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    watchdog.cancel()
    assert url, "the app server stopped before it was ready"
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def debian_chromium():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-background-networking",
                                    "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


def _open(browser, url: str) -> tuple[Page, list[str]]:
    """A new session (its own browser context), with requests off this machine blocked."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.goto(url)
    expect(page.get_by_role("tab", name="Set up")).to_be_visible(timeout=60_000)
    return page, outside


def _picture(page: Page, chart: str) -> str:
    """A digest of the picture a chart shows (its bytes, read in the page: the blob URL in
    `src` is new for every image, whatever it shows)."""
    return page.evaluate("""async (sel) => {
        const img = document.querySelector(sel);
        const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        const d = await crypto.subtle.digest('SHA-256', bytes);
        return [...new Uint8Array(d)].map(b => b.toString(16).padStart(2, '0')).join('');
    }""", f".{chart} img")


def _run_a_year(page: Page) -> tuple[str, str]:
    """On "Watch it run": run a year from week 0; the waiting chart's picture and caption."""
    page.get_by_role("tab", name="Watch it run").click()
    expect(page.get_by_text("Week 0", exact=True)).to_be_visible(timeout=60_000)
    return _run_a_year_from(page, start=0)


def test_change_a_lever_run_a_year_and_the_charts_change(debian_chromium, app_url):
    page, outside = _open(debian_chromium, app_url)
    hub = page.get_by_label("Hub triage for every GP referral")
    hub.check(force=True)
    expect(hub).to_be_checked()
    page.get_by_role("button", name="Start this set-up").click()
    _run_a_year(page)  # (asserts the picture and its caption changed)
    for tab in ("Compare", "The system", "Take it away", "Set up"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("Hub triage for every GP referral")).to_be_checked()
    assert outside == [], f"the page tried to reach the internet: {outside[:3]}"
    page.context.close()


def test_two_sessions_keep_their_own_settings_and_results(debian_chromium, app_url):
    a, _ = _open(debian_chromium, app_url)
    b, _ = _open(debian_chromium, app_url)
    a.get_by_label("Hub triage for every GP referral").check(force=True)
    a.get_by_role("button", name="Start this set-up").click()
    chart_a, caption_a = _run_a_year(a)
    # session B never touched the hub lever and has not run: its own state is untouched
    expect(b.get_by_label("Hub triage for every GP referral")).not_to_be_checked()
    b.get_by_role("tab", name="Watch it run").click()
    expect(b.get_by_text("Week 0", exact=True)).to_be_visible(timeout=60_000)
    b.get_by_role("button", name="Step a week").click()
    expect(b.get_by_text("Week 1", exact=True)).to_be_visible(timeout=60_000)
    expect(a.get_by_text("Week 52", exact=True)).to_be_visible()
    chart_b, caption_b = _run_a_year_from(b, start=1)
    # same seed, a different lever: different results, in the picture and in the figures
    assert chart_a != chart_b and caption_a != caption_b
    expect(a.locator(".chart-waiting .chart-caption")).to_have_text(caption_a)
    a.context.close()
    b.context.close()


def _run_a_year_from(page: Page, start: int) -> tuple[str, str]:
    chart = page.locator(".chart-waiting img")
    caption = page.locator(".chart-waiting .chart-caption")
    expect(chart).to_be_visible(timeout=60_000)
    before, words = _picture(page, "chart-waiting"), caption.inner_text()
    src = chart.get_attribute("src")
    page.get_by_role("button", name="Run a year").click()
    expect(page.get_by_text(f"Week {start + 52}", exact=True)).to_be_visible(timeout=120_000)
    expect(chart).not_to_have_attribute("src", src, timeout=60_000)
    after = _picture(page, "chart-waiting")
    assert after != before, "the waiting chart shows the same picture after a year"
    assert caption.inner_text() != words and "Now " in caption.inner_text()
    return after, caption.inner_text()


def test_compare_two_rules_in_the_browser(debian_chromium, app_url):
    """Compare: two paired runs of each rule; every chart appears with its sentence, and the
    sentences give the paired interval that two replications allow."""
    page, outside = _open(debian_chromium, app_url)
    page.get_by_role("tab", name="Compare").click()
    reps = page.get_by_role("slider", name="Replications (paired runs of each rule)")
    reps.focus()
    reps.press("ArrowRight")
    expect(reps).to_have_attribute("aria-valuenow", "2")
    expect(page.get_by_text("4 runs, about", exact=False)).to_be_visible()
    page.get_by_role("button", name="Compare", exact=True).click()
    pictures = page.locator("[class*='chart-compare-'] img")
    expect(pictures).to_have_count(len(COMPARE_SERIES), timeout=120_000)
    expect(page.get_by_text("2 paired runs each", exact=False)).to_be_visible()
    expect(page.get_by_text("95% interval of the difference").first).to_be_visible()
    expect(page.get_by_text("Headline figures", exact=False)).to_be_visible()
    assert outside == [], f"the page tried to reach the internet: {outside[:3]}"
    page.context.close()
