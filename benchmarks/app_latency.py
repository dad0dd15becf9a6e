"""How long the workshop app takes from a changed lever to a year's updated charts.

    .venv/bin/python benchmarks/app_latency.py [--repeats 5]

Serves the app (viz/serve.py) and drives Debian's chromium headless at 1280×720, as the
browser test does. Each repeat, in one session: flip "Hub triage for every GP referral",
press "Start this set-up" (a new model at the Set up's scale, 0.1 of Sheffield by default),
open "Watch it run" and press "Run a year". Each repeat also sets a seed not used before, so
every chart is drawn afresh (the app keeps pictures it has drawn, by their content). The time
is measured inside the page, from the click on "Start this set-up" until every live chart on
"Watch it run" shows its new picture: the simulation, the five charts and the trip through
the websocket included. Prints each time and the median.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHARTS = ("waiting", "rtt", "theatre", "spend", "outcomes")

# runs in the page: resolves with the milliseconds from the click until every chart's picture
# differs from the one it showed before (checked on every animation frame)
_MEASURE = """
async ([charts, weeks]) => {
  const src = c => {
    const i = document.querySelector(`.chart-${c} img`);
    return i ? i.src : null;
  };
  window.CHARTS = charts; window.SRC = src; window.__before = null;
  const counter = () => [...document.querySelectorAll('.week-counter')]
    .map(e => e.textContent).join();
  const t0 = performance.now();
  return await new Promise(resolve => {
    const tick = () => {
      const b = window.__before;
      const done = b && counter().includes(`Week ${weeks}`)
                   && charts.every(c => src(c) && src(c) !== b[c]);
      if (done) resolve(performance.now() - t0); else requestAnimationFrame(tick);
    };
    window.__mskGo();
    requestAnimationFrame(tick);
  });
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "viz" / "serve.py"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        m = re.search(r"ready at (http://\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("the app server stopped before it was ready")


def measure(url: str, repeats: int) -> list[float]:
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--no-first-run"])
        page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        page.goto(url)
        page.get_by_role("tab", name="Set up").wait_for(timeout=60_000)
        for i in range(repeats + 1):  # the first is a warm-up (imports, first draw)
            page.get_by_role("tab", name="Set up").click()
            page.get_by_text("Hub triage for every GP referral").click()
            # a seed never used before, so no chart can come from the app's picture cache
            seed = page.get_by_label("Seed")
            seed.fill(str(1000 + i))
            seed.press("Enter")
            # press Start, then Run a year once Watch it run shows the fresh model (Week 0)
            page.evaluate("""() => { window.__mskGo = () => {
                const find = t => [...document.querySelectorAll('button')].find(
                    e => e.textContent.trim() === t);
                find('Start this set-up').click();
                const wait = () => {
                  const tab = [...document.querySelectorAll('[role=tab]')].find(
                      e => e.textContent.trim() === 'Watch it run');
                  const run = find('Run a year');
                  const week = [...document.querySelectorAll('.week-counter')].map(
                      e => e.textContent).join();
                  if (run && week.includes('Week 0')) {
                    window.__before = Object.fromEntries(CHARTS.map(c => [c, SRC(c)]));
                    run.click(); return;
                  }
                  if (tab && tab.getAttribute('aria-selected') !== 'true') tab.click();
                  requestAnimationFrame(wait);
                };
                requestAnimationFrame(wait);
            }; }""")
            ms = page.evaluate(_MEASURE, [list(CHARTS), 52])
            times.append(ms / 1000)
        browser.close()
    return times[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    proc, url = serve()
    try:
        times = measure(url, a.repeats)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    print("seconds from 'Start this set-up' to a year's updated charts:",
          ", ".join(f"{t:.2f}" for t in times))
    print(f"median {statistics.median(times):.2f} s over {len(times)} repeats")


if __name__ == "__main__":
    main()
