"""Experiments at scale: backends agree, a killed run resumes without loss or repeats,
uncertain parameters and sweeps, and what common random numbers buy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from msksim.cli import main
from msksim.experiment import RUNS_DIR, run_experiment
from msksim.statistics import replications_needed, welch_half_width

SMALL = """\
name: small
question: Does the follow-up rate differ between the rules?
replications: {reps}
baseline: pbr
run: {{scale: 0.02, years: 1, warmup_weeks: 8}}
scenarios:
  pbr: {{contract: pbr, description: Payment by Results}}
  cobic: {{contract: cobic, description: the capitated contract}}
"""


def _write(tmp_path: Path, reps: int, extra: str = "") -> Path:
    f = tmp_path / "exp.yaml"
    f.write_text(SMALL.format(reps=reps) + extra)
    return f


def _tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "runs.parquet"), pd.read_parquet(out / "series.parquet")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with a process pool: the table every other run must reproduce."""
    tmp = tmp_path_factory.mktemp("ref")
    f = _write(tmp, reps=4)
    result = run_experiment(f, out_dir=tmp / "out", workers=2)
    return f, tmp / "out", result


def test_dask_local_cluster_gives_identical_tables(reference, tmp_path):
    f, out, _ = reference
    run_experiment(f, out_dir=tmp_path / "dask", workers=2, dask=True)
    for a, b in zip(_tables(out), _tables(tmp_path / "dask"), strict=True):
        pd.testing.assert_frame_equal(a, b)
    meta = json.loads((tmp_path / "dask" / "meta.json").read_text())
    assert meta["backend"].startswith("dask LocalCluster")


def test_sigkill_then_rerun_loses_and_repeats_nothing(reference, tmp_path):
    f, out, _ = reference
    dest = tmp_path / "killed"
    # progress lines ("run k of n finished") go to stderr when it is not a terminal
    cmd = [sys.executable, "-m", "msksim.cli", "experiment", str(f), "--out", str(dest),
           "--workers", "2"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env, start_new_session=True)
    # a runner that stalls silently must not hang the suite: kill it after 10 minutes
    watchdog = threading.Timer(600, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    finished = 0
    for line in proc.stderr:  # blocks on the runner's own progress lines: no sleeping
        if line.startswith("run ") and "finished" in line:
            finished += 1
            if finished == 3:
                os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, at once
                break
    proc.wait()
    watchdog.cancel()
    assert finished == 3, "the runner stopped before three runs finished"
    assert proc.returncode == -signal.SIGKILL
    saved = sorted((dest / RUNS_DIR).glob("scenario=*/replication=*"))
    assert 3 <= len(saved) < 8  # killed part-way: some runs saved, not all
    assert not (dest / "meta.json").exists()
    rerun = run_experiment(f, out_dir=dest, workers=2)
    assert rerun.meta["runs_resumed"] == len(saved)
    runs_dirs = list((dest / RUNS_DIR).glob("scenario=*/replication=*"))
    assert len(runs_dirs) == 2 * 4 and not list((dest / RUNS_DIR).glob("scenario=*/.*"))
    for a, b in zip(_tables(out), _tables(dest), strict=True):
        pd.testing.assert_frame_equal(a, b)
    again = run_experiment(f, out_dir=dest, workers=1)
    assert again.meta["runs_resumed"] == 8 and again.meta["backend"] == "none needed"


def test_results_of_another_experiment_are_not_reused(reference, tmp_path, capsys):
    _, out, _ = reference
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    other = _write(tmp_path, reps=4)
    other.write_text(other.read_text().replace("scale: 0.02", "scale: 0.021"))
    code = main(["experiment", str(other), "--out", str(copy), "--quiet"])
    assert code == 2
    assert "holds results of a different experiment" in capsys.readouterr().err


def test_more_replications_keep_the_runs_already_made(tmp_path):
    extra = """\
uncertainty:
  parameters:
    behaviour.wait_disutility_qaly_per_week: [0.001, 0.003]
"""
    f = _write(tmp_path, reps=2, extra=extra)
    first = run_experiment(f, out_dir=tmp_path / "out", workers=1)
    more = run_experiment(f, out_dir=tmp_path / "out", workers=1, replications=3)
    assert more.meta["runs_resumed"] == 4  # 2 scenarios × the 2 replications already run
    assert more.meta["uncertain_parameters"][:2] == first.meta["uncertain_parameters"]
    keep = more.runs[more.runs["replication"] < 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(keep, first.runs)


def test_a_sweep_may_not_rename_onto_another_scenario(tmp_path):
    f = tmp_path / "clash.yaml"
    f.write_text(SMALL.format(reps=1).replace("  pbr: {", "  cobic_0: {contract: cobic}\n  pbr: {")
                 + "sweep:\n  parameters:\n    behaviour.w_money_qaly_per_gbp: [0.0, 1.0e-5]\n")
    assert main(["experiment", str(f), "--quiet"]) == 2


def test_pairing_narrows_the_follow_up_ratio_interval(reference):
    _, _, result = reference
    st = result.statistics
    assert st["focus"] == "All outpatient clinics: follow-ups per first"
    crn = st["crn"]
    assert crn["paired_half_width"] < crn["unpaired_half_width"]
    assert 0 < crn["narrower_pct"] < 100
    assert st["advisor"] and all(a["n_now"] == 4 for a in st["advisor"])


def test_uncertain_parameters_centre_first_and_paired_across_scenarios(tmp_path):
    extra = """\
uncertainty:
  seed: 3
  parameters:
    behaviour.wait_disutility_qaly_per_week: [0.001, 0.003]
sweep:
  method: grid
  parameters:
    behaviour.w_money_qaly_per_gbp: [0.0, 0.0001]
"""
    f = _write(tmp_path, reps=3, extra=extra)
    result = run_experiment(f, out_dir=tmp_path / "out", workers=1)
    draws = result.meta["uncertain_parameters"]
    values = [d["behaviour.wait_disutility_qaly_per_week"] for d in draws]
    assert values[0] == pytest.approx(0.002) and len(set(values)) == 3
    assert all(0.001 <= v <= 0.003 for v in values)
    assert list(result.meta["scenarios"]) == ["pbr", "cobic_0", "cobic_1"]
    by_run = {(r["scenario"], r["replication"]): r for r in result.meta["runs"]}
    assert len(by_run) == 9
    for r in range(3):  # the same drawn values in every scenario of a replication
        assert (by_run[("pbr", r)]["parameters"] == by_run[("cobic_0", r)]["parameters"]
                == by_run[("cobic_1", r)]["parameters"] == draws[r])
    cfgs = result.meta["scenarios"]
    assert [cfgs[s]["config"]["behaviour"]["w_money_qaly_per_gbp"]
            for s in ("cobic_0", "cobic_1")] == [0.0, 0.0001]
    bad = _write(tmp_path, reps=2,
                 extra="uncertainty:\n  parameters:\n    behaviour.nope: [0, 1]\n")
    assert main(["experiment", str(bad), "--quiet"]) == 2


def test_statistics_against_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 12), rng.normal(0, 2, 9)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch_half_width(a, b) == pytest.approx((ci.high - ci.low) / 2, rel=1e-9)
    for sd, h in ((1.0, 0.5), (2.0, 0.3), (0.7, 0.05)):
        n = replications_needed(sd, h)
        assert stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) <= h
        assert stats.t.ppf(0.975, n - 2) * sd / np.sqrt(n - 1) > h
