"""Experiments: the file format's errors, paired seeds, and results that do not depend on the
number of worker processes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pandas.testing import assert_frame_equal

import msksim.run
from msksim.config import ConfigError
from msksim.experiment import (
    add_parser,
    format_experiment,
    load_experiment,
    run_experiment,
)

REPO = Path(__file__).resolve().parents[1]
SHEFFIELD = REPO / "configs" / "sheffield.yaml"
HUB = REPO / "configs" / "overlays" / "hub.yaml"
FAST_RUN = {"scale": 0.01, "years": 1, "warmup_weeks": 4}


def _experiment(**changes) -> dict:
    """A small experiment: a, and b identical to it, both PbR; c is COBIC with the hub."""
    data = {
        "name": "test",
        "question": "Does the runner pair its scenarios?",
        "base": str(SHEFFIELD),
        "replications": 2,
        "baseline": "a",
        "run": dict(FAST_RUN),
        "scenarios": {
            "a": {"contract": "pbr", "description": "status quo"},
            "b": {"contract": "pbr", "description": "the same again"},
            "c": {"contract": "cobic", "overlay": str(HUB)},
        },
    }
    data.update(changes)
    return data


@pytest.fixture
def write_experiment(tmp_path):
    def write(data: dict, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def two_ways(tmp_path_factory):
    """The same experiment run in-process and with two worker processes."""
    folder = tmp_path_factory.mktemp("experiment")
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(_experiment(run={**FAST_RUN, "seed": 7})), encoding="utf-8")
    one = run_experiment(path, out_dir=folder / "out", workers=1)
    two = run_experiment(path, workers=2)
    return one, two


# ----------------------------------------------------------------------------------------------
# errors name the field, before any run
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if anything is simulated."""

    def boom(*args, **kwargs):
        raise AssertionError("a run started before the experiment was validated")

    monkeypatch.setattr(msksim.run, "run_once", boom)


@pytest.mark.parametrize("data, words", [
    (_experiment(replicatons=3), ["replicatons", "unknown setting", "replications"]),
    ({**_experiment(), "scenarios": {"a": {"contract": "pbrr"}}},
     ["scenarios.a.contract", "'pbrr'", "cobic"]),
    ({**_experiment(), "scenarios": {"a": {"contract": "pbr", "overlya": {}}}},
     ["scenarios.a.overlya", "unknown setting", "overlay"]),
    ({k: v for k, v in _experiment().items() if k != "baseline"},
     ["baseline", "missing"]),
    (_experiment(baseline="z"), ["baseline", "'z'", "not a scenario", "'a'"]),
    (_experiment(run={"scale": 0.02, "yeers": 1}), ["run.yeers", "unknown setting", "years"]),
    (_experiment(replications=0), ["replications", "0"]),
    (_experiment(base="nowhere.yaml"), ["base", "'nowhere.yaml'", "not a file"]),
    (_experiment(overlays=[{}, "missing.yaml"]), ["overlays.1", "'missing.yaml'"]),
    (_experiment(scenarios={}), ["scenarios"]),
])
def test_bad_experiment_names_the_field(write_experiment, no_runs, data, words):
    with pytest.raises(ConfigError) as err:
        run_experiment(write_experiment(data))
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_bad_scenario_overlay_fails_before_any_run(write_experiment, no_runs):
    data = _experiment()
    data["scenarios"]["c"]["overlay"] = [str(HUB), {"services": {"hub": {"enabld": True}}}]
    with pytest.raises(ConfigError, match=r"scenarios\.c: services\.hub\.enabld"):
        run_experiment(write_experiment(data))


def test_rule_unavailable_for_a_scenario(write_experiment, no_runs):
    data = _experiment()
    data["scenarios"]["b"] = {"contract": "cobic", "overlay": {"contract": {"cobic": None}}}
    with pytest.raises(ConfigError, match=r"scenarios\.b: contract\.cobic"):
        run_experiment(write_experiment(data))


def test_scenarios_must_share_seeds(write_experiment, no_runs):
    data = _experiment()
    data["scenarios"]["b"]["overlay"] = {"run": {"seed": 99}}
    with pytest.raises(ConfigError, match=r"scenarios\.b\.overlay: run\.seed 99"):
        run_experiment(write_experiment(data))


def test_bad_command_line_values(write_experiment, no_runs):
    path = write_experiment(_experiment())
    for kwargs, field in (({"workers": 0}, "--workers"), ({"replications": 0}, "--replications"),
                          ({"scale": -1.0}, "--scale")):
        with pytest.raises(ConfigError, match=field):
            run_experiment(path, **kwargs)


@pytest.mark.parametrize("name", ["sheffield_options", "bedford", "oldham"])
def test_shipped_experiments_validate(name):
    exp = load_experiment(REPO / "experiments" / f"{name}.yaml")
    assert exp.spec.baseline in exp.configs
    assert len(exp.seeds) == exp.replications


def test_paths_are_relative_to_the_experiment_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.yaml").write_text("run: {years: 2}\n", encoding="utf-8")
    data = _experiment(overlays=["sub/more.yaml"])
    data["run"] = {"scale": 0.01}  # so the shared overlay's years stands
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    exp = load_experiment(path)
    assert all(cfg.run.years == 2 for cfg in exp.configs.values())
    assert exp.configs["c"].pathway.single_point_of_access == "hub"
    assert exp.configs["a"].pathway.single_point_of_access is None


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------
def test_seeds_are_base_plus_replication(two_ways):
    one, _ = two_ways
    assert one.seeds == [7, 8]
    for sc in ("a", "b", "c"):
        runs = one.runs[one.runs["scenario"] == sc]
        # the seed each model actually used, replication by replication
        got = runs.groupby("replication")["seed"].unique().map(list).to_dict()
        assert got == {0: [7], 1: [8]}
    assert one.meta["seeds"] == [7, 8]


def test_paired_difference_with_itself_is_zero(two_ways):
    one, _ = two_ways
    d = one.differences[one.differences["scenario"] == "b"]
    defined = d.dropna(subset=["mean_diff"])
    assert len(defined) > 20
    assert (defined["mean_diff"] == 0.0).all()
    paired = defined[defined["n"] > 1]  # an interval needs two replications with the figure
    assert (paired["ci_low"] == 0.0).all() and (paired["ci_high"] == 0.0).all()
    assert set(one.differences["scenario"]) == {"b", "c"}


def test_workers_do_not_change_results(two_ways):
    one, two = two_ways
    assert_frame_equal(one.runs, two.runs)
    assert_frame_equal(one.summary, two.summary)
    assert_frame_equal(one.differences, two.differences)


def test_summary_interval_brackets_the_mean(two_ways):
    one, _ = two_ways
    s = one.summary.dropna(subset=["ci_low"])
    assert len(s) > 20
    assert (s["ci_low"] <= s["mean"] + 1e-9).all() and (s["mean"] <= s["ci_high"] + 1e-9).all()
    assert (s["n"] == 2).all()


def test_files_written(two_ways):
    one, _ = two_ways
    out = one.out_dir
    for name in ("summary.parquet", "summary.csv", "differences.parquet", "differences.csv",
                 "runs.parquet", "meta.json"):
        assert (out / name).is_file(), name
    assert_frame_equal(pd.read_parquet(out / "summary.parquet"), one.summary)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seeds"] == [7, 8]
    assert "question: Does the runner pair its scenarios?" in meta["experiment_text"]
    assert {"msksim_version", "git_sha"} <= set(meta)
    assert meta["scenarios"]["c"]["contract"] == "cobic"
    assert not list(out.glob(".*.tmp"))


def test_format_in_plain_words(two_ways):
    one, _ = two_ways
    text = format_experiment(one)
    assert "Does the runner pair its scenarios?" in text
    assert "c compared with a" in text and "b compared with a" in text
    assert "identical" in text
    assert "95% confidence interval" in text


def test_command_line(write_experiment, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="msksim")
    add_parser(parser.add_subparsers(dest="command"))
    data = _experiment(replications=1)
    del data["scenarios"]["c"]
    args = parser.parse_args(["experiment", str(write_experiment(data)), "--out",
                              str(tmp_path / "cli"), "--scale", "0.01"])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "b compared with a" in printed and "cli" in printed
    meta = json.loads((tmp_path / "cli" / "meta.json").read_text())
    assert meta["scenarios"]["a"]["config"]["run"]["scale"] == 0.01
