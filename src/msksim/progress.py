"""Model runs finished, and the time left, for the long commands (experiment, capacity,
sensitivity): a tqdm bar on a terminal; in a log, either one line per finished run
(`log_lines`) or a bar redrawn at most every 30 s."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Call with (done, total) after each run; `close()` at the end."""

    def __init__(self, enabled: bool, desc: str = "runs", log_lines: bool = False):
        self.enabled, self.desc, self.log_lines = enabled, desc, log_lines
        self.tty = sys.stderr.isatty()
        self.bar = None
        self.t0, self.start = time.perf_counter(), None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.start is None:  # runs found already finished (a resumed experiment)
            self.start = done
            if done and self.log_lines and not self.tty:
                print(f"{done} of {total} runs already finished in the output folder",
                      file=sys.stderr, flush=True)
        if self.tty or not self.log_lines:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=done, desc=self.desc, unit="run",
                                leave=False, file=sys.stderr,
                                mininterval=0.5 if self.tty else 30.0)
            self.bar.total = total
            self.bar.update(done - self.bar.n)
            return
        if done > self.start:
            rate = (time.perf_counter() - self.t0) / (done - self.start)
            print(f"run {done} of {total} finished; about {rate * (total - done) / 60:.1f} min "
                  f"left", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
