"""Same config and seed -> the same results, in-process and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from msksim import __version__
from msksim.run import run_once


@pytest.mark.parametrize("contract", ["pbr", "cobic"])
def test_same_seed_same_frames(small_cfg, contract):
    cfg = small_cfg(seed=3, warmup_weeks=4)
    a = run_once(cfg, contract)
    b = run_once(cfg, contract)
    assert len(a.weekly) > 0 and len(a.ledger) > 0
    assert_frame_equal(a.weekly, b.weekly)
    assert_frame_equal(a.ledger, b.ledger)
    assert a.year_results == b.year_results


def test_same_seed_fresh_config_objects(small_cfg):
    a = run_once(small_cfg(seed=5, warmup_weeks=4), "pbr")
    b = run_once(small_cfg(seed=5, warmup_weeks=4), "pbr")
    assert_frame_equal(a.weekly, b.weekly)
    assert_frame_equal(a.ledger, b.ledger)


def test_different_seed_different_results(small_cfg):
    a = run_once(small_cfg(seed=1, warmup_weeks=4), "pbr")
    b = run_once(small_cfg(seed=2, warmup_weeks=4), "pbr")
    assert a.meta["seed"] == 1 and b.meta["seed"] == 2
    with pytest.raises(AssertionError):
        assert_frame_equal(a.weekly, b.weekly)
    key = ["week", "metric"]
    ca = a.weekly[a.weekly["metric"] == "new_gp_consultations"].set_index(key)["value"]
    cb = b.weekly[b.weekly["metric"] == "new_gp_consultations"].set_index(key)["value"]
    assert (ca != cb).any()


def _cli_run(run_cli, out, seed=7):
    proc = run_cli("run", "--scale", "0.03", "--years", "1", "--warmup-weeks", "4",
                   "--seed", str(seed), "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_cli_runs_are_reproducible(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    # both at once: the same source snapshot, and half the wall time
    procs = [subprocess.Popen([sys.executable, "-m", "msksim.cli", "run", "--scale", "0.03",
                               "--years", "1", "--warmup-weeks", "4", "--seed", "7", "--quiet",
                               "--out", str(out)], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for out in (one, two)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "Traceback" not in err
    for name in ("weekly.parquet", "ledger.parquet"):
        a, b = pd.read_parquet(one / name), pd.read_parquet(two / name)
        assert len(a) > 0
        assert_frame_equal(a, b)
    ma = json.loads((one / "meta.json").read_text())
    mb = json.loads((two / "meta.json").read_text())
    for volatile in ("created_utc", "wall_seconds"):
        ma.pop(volatile, None)
        mb.pop(volatile, None)
    assert ma == mb
    # no stray temporary files left by the atomic writes
    assert sorted(p.name for p in one.iterdir()) == ["ledger.parquet", "meta.json",
                                                     "weekly.parquet"]


def test_meta_json_provenance(run_cli, tmp_path):
    out = tmp_path / "run"
    _cli_run(run_cli, out, seed=7)
    meta = json.loads((out / "meta.json").read_text())
    for key in ("msksim_version", "git_sha", "seed", "contract", "config"):
        assert key in meta, key
    assert meta["msksim_version"] == __version__
    assert isinstance(meta["git_sha"], str) and meta["git_sha"]
    assert meta["seed"] == 7
    assert meta["contract"] == "pbr"
    cfg = meta["config"]
    assert cfg["run"]["seed"] == 7
    assert cfg["run"]["scale"] == 0.03
    assert cfg["run"]["years"] == 1
    assert cfg["run"]["warmup_weeks"] == 4
    # the full resolved config, defaults included, not just what the YAML said
    assert {"population", "conditions", "procedures", "providers", "services", "pathway",
            "behaviour", "contract", "run", "name"} <= set(cfg)
    assert "practices" in cfg["population"]
    from msksim.config import validate_config

    assert validate_config(cfg).run.seed == 7


def test_seed_argument_overrides_config(small_cfg):
    from msksim.model import MSKModel

    cfg = small_cfg(seed=1, warmup_weeks=2)
    m = MSKModel(cfg, "pbr", seed=9)
    assert m.seed == 9
    cfg9 = small_cfg(seed=9, warmup_weeks=2)
    m9 = MSKModel(cfg9, "pbr")
    for _ in range(4):
        m.step()
        m9.step()
    assert m.recorder.last == m9.recorder.last
