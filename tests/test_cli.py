"""The command line: compare, run, check, schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from msksim.cli import main


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    proc = subprocess.run([sys.executable, "-m", "msksim.cli", "compare", "--scale", "0.03",
                           "--years", "1", "--warmup-weeks", "4", "--out", str(out)],
                          capture_output=True, text=True, cwd=out.parent, timeout=300)
    return proc, out


def test_compare_exit_code_and_table(compare_run):
    proc, _ = compare_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    # the table's header row holds just the two column names
    assert any(line.split() == ["pbr", "cobic"] for line in lines), proc.stdout
    fu = [line for line in lines if "follow-ups per first" in line]
    assert fu, proc.stdout
    # each such line carries two numbers, one per contract
    for line in fu:
        cells = line.split(")")[-1].split()
        assert len(cells) == 2, line
        for c in cells:
            float(c.replace(",", ""))


def test_compare_writes_results(compare_run):
    proc, out = compare_run
    assert proc.returncode == 0, proc.stderr
    for contract in ("pbr", "cobic"):
        for name in ("weekly.parquet", "ledger.parquet", "meta.json"):
            assert (out / contract / name).is_file(), (contract, name)
        meta = json.loads((out / contract / "meta.json").read_text())
        assert meta["contract"] == contract
    weekly = pd.read_parquet(out / "pbr" / "weekly.parquet")
    assert {"week", "metric", "value"} <= set(weekly.columns)
    assert weekly["week"].min() == 0 and weekly["week"].max() == 51
    ledger = pd.read_parquet(out / "cobic" / "ledger.parquet")
    assert list(ledger.columns) == ["week", "payer", "payee", "activity", "count", "amount_gbp"]
    assert (ledger["activity"] == "capitation").sum() == 52
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["columns"] == ["section", "measure", "unit", "pbr", "cobic"]
    measures = [row[1] for row in comparison["rows"]]
    assert any("follow-ups per first" in m for m in measures)
    assert all(len(row) == 5 for row in comparison["rows"])


def test_compare_same_seed_same_population(compare_run):
    _, out = compare_run
    a = pd.read_parquet(out / "pbr" / "weekly.parquet")
    b = pd.read_parquet(out / "cobic" / "weekly.parquet")

    def series(df, metric):
        return df[df["metric"] == metric].groupby("week")["value"].sum()

    # the same people are born, age and die in the same weeks whatever the contract
    for metric in ("n_adults", "new_deaths"):
        pd.testing.assert_series_equal(series(a, metric), series(b, metric))
    # ...but the contract does change what happens to them
    assert not series(a, "new_follow_up_attendances").equals(
        series(b, "new_follow_up_attendances"))


def test_schema_is_json(run_cli):
    proc = run_cli("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert "properties" in schema
    assert {"run", "services", "pathway", "contract"} <= set(schema["properties"])


def test_schema_out_file(tmp_path, capsys):
    path = tmp_path / "schema.json"
    assert main(["schema", "--out", str(path)]) == 0
    assert "properties" in json.loads(path.read_text())


def test_check_default_config(run_cli):
    proc = run_cli("check")
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
    assert proc.stderr == ""


def test_check_repo_config_file(run_cli):
    config = Path(__file__).resolve().parents[1] / "configs" / "sheffield.yaml"
    proc = run_cli("check", "--config", config)
    assert proc.returncode == 0, proc.stderr


def test_console_script_installed():
    exe = Path(sys.executable).parent / "msksim"
    assert exe.exists()
    proc = subprocess.run([str(exe), "check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_main_in_process_returns_exit_codes(capsys, tmp_path):
    assert main(["check"]) == 0
    assert main(["check", "--config", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.yaml" in err


def test_run_quiet_writes_three_files(run_cli, tmp_path):
    out = tmp_path / "r"
    proc = run_cli("run", "--contract", "cobic", "--scale", "0.02", "--years", "1",
                   "--warmup-weeks", "2", "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["ledger.parquet", "meta.json",
                                                     "weekly.parquet"]
    assert json.loads((out / "meta.json").read_text())["contract"] == "cobic"


def test_help(run_cli):
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("run", "compare", "check", "schema"):
        assert cmd in proc.stdout
