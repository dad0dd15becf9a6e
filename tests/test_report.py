"""`msksim report DIR`: one self-contained HTML page from an experiment output folder."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from msksim.cli import main
from msksim.experiment import run_experiment
from msksim.report import build_report, verdict, write_report
from msksim.results import SERIES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUESTION = "Does a capitated outcome-based contract shorten the wait for surgery?"
EXPERIMENT = f"""\
name: Tiny report test
question: {QUESTION}
replications: 2
baseline: keep_pbr
run: {{scale: 0.02, years: 1, warmup_weeks: 8}}
scenarios:
  keep_pbr:
    contract: pbr
    description: Payment by Results as now.
  try_cobic:
    contract: cobic
    description: A capitated outcome-based prime contract.
"""


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory) -> Path:
    """A tiny finished experiment (2 scenarios x 2 replications), run once for the module."""
    folder = tmp_path_factory.mktemp("report")
    spec = folder / "tiny.yaml"
    spec.write_text(EXPERIMENT)
    out = folder / "out"
    run_experiment(spec, out_dir=out, workers=1)
    return out


@pytest.fixture(scope="module")
def report(experiment_dir) -> str:
    path = write_report(experiment_dir)
    assert path == experiment_dir / "report.html"
    return path.read_text(encoding="utf-8")


def _copy(src: Path, dst: Path) -> Path:
    """The experiment's tables and meta.json (not the per-run folders)."""
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name != "report.html":
            shutil.copy(f, dst / f.name)
    return dst


def _plain(page: str) -> str:
    """The page's text without tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_report_is_one_self_contained_file(report):
    assert report.startswith("<!DOCTYPE html>")
    attrs = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", report, flags=re.I)
    assert attrs, "no src/href attributes at all"
    assert not [a for a in attrs if re.match(r"\s*(https?:)?//", a, flags=re.I)], attrs
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*https?:""", report, flags=re.I)
    assert "<script" not in report.lower()
    assert "<link" not in report.lower()
    assert "@import" not in report and "url(" not in report
    imgs = re.findall(r"<img\b[^>]*>", report)
    assert len(imgs) >= 8
    for tag in imgs:
        src = re.search(r"""src=["']([^"']*)["']""", tag).group(1)
        assert src.startswith("data:image/png;base64,"), src[:60]
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png.startswith(PNG_SIGNATURE)
        assert len(png) > 2000  # a real picture, not an empty canvas


def test_report_has_question_scenarios_provenance_and_plots(report, experiment_dir):
    meta = json.loads((experiment_dir / "meta.json").read_text())
    text = html.unescape(report)
    assert QUESTION in text
    assert "Tiny report test" in text
    for name in ("keep_pbr", "try_cobic"):
        assert name in text
    assert "Payment by Results (activity tariff)" in text
    assert "capitated outcome-based incentivised contract" in text
    assert meta["git_sha"] and meta["git_sha"] in text
    assert "seeds" in text and ", ".join(str(s) for s in meta["seeds"]) in text
    assert "name: Tiny report test" in text  # the experiment file itself, in provenance
    # a plot (figure with an inline PNG) for every weekly series the experiment keeps
    figures = re.findall(r"<figure data-series='([^']*)'>(.*?)</figure>", report, flags=re.S)
    shown = {name for series, body in figures if "<img" in body for name in series.split()}
    assert set(SERIES) <= shown, set(SERIES) - shown
    # every plot is explained in words under it
    assert all("<figcaption>" in body for series, body in figures if series != "sensitivity")


def test_differences_table_headline_first_and_full_table_collapsible(report, experiment_dir):
    text = html.unescape(report)
    assert "try_cobic compared with keep_pbr" in text
    assert re.search(r"<details><summary>All \d+ figures", report)
    head = text.index("try_cobic compared with keep_pbr")
    assert text.index("all operations", head) < text.index("<details>", head)
    assert re.search(r"verdict[^>]*>(higher|lower|no clear difference|identical)<", report)
    diffs = pd.read_parquet(experiment_dir / "differences.parquet")
    assert len(diffs) and (diffs["scenario"] == "try_cobic").all()


def test_verdict_words():
    assert verdict(3, 2.0, 1.0, 0.5, 3.5) == "higher"
    assert verdict(3, -2.0, 1.0, -3.5, -0.5) == "lower"
    assert verdict(3, 0.4, 1.0, -0.5, 1.3) == "no clear difference"
    assert verdict(3, 0.0, 0.0, 0.0, 0.0) == "identical"


def test_optional_statistics_and_sensitivity(experiment_dir, tmp_path):
    out = _copy(experiment_dir, tmp_path / "copy")
    (out / "statistics.json").write_text(json.dumps({"crn": {
        "measure": "all operations", "paired_half_width": 40.0,
        "unpaired_half_width": 100.0, "reduction_pct": 60.0}, "advisor": ["run 5 more"]}))
    pd.DataFrame({"parameter": ["theatre_sessions", "w_money", "tariff_hip"],
                  "mu_star": [1.0, 30.0, 7.0], "mu_star_conf": [0.5, 4.0, 2.0],
                  "sigma": [0.4, 12.0, 3.0], "kpi": "all operations"}
                 ).to_csv(out / "sensitivity.csv", index=False)
    page = build_report(out)
    text = _plain(page)
    assert ("Pairing the runs by seed made the interval for all operations 60.0% narrower "
            "than independent runs would give (half-width 40.0 vs 100)") in text
    assert "run 5 more" in text
    ranking = text[text.index("Which assumptions matter most"):]
    assert ranking.index("w_money") < ranking.index("tariff_hip") < ranking.index(
        "theatre_sessions")
    assert "data-series='sensitivity'" in page


def test_report_without_optional_files(experiment_dir, tmp_path):
    out = _copy(experiment_dir, tmp_path / "plain")
    for name in ("statistics.json", "sensitivity.csv", "crn.csv"):
        (out / name).unlink(missing_ok=True)
    text = build_report(out)
    assert "Common random numbers</h2>" not in text
    assert "Which assumptions matter most" not in text


def test_cli_writes_the_report_where_asked(experiment_dir, tmp_path, capsys):
    target = tmp_path / "sub" / "mine.html"
    assert main(["report", str(experiment_dir), "--out", str(target)]) == 0
    assert target.is_file() and target.read_text().startswith("<!DOCTYPE html>")
    assert str(target) in capsys.readouterr().out
    assert not list(target.parent.glob(".*.tmp"))  # written atomically, nothing left over


@pytest.mark.parametrize("setup, expect", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "missing meta.json, summary.parquet, differences.parquet"),
    (lambda p: (p.mkdir(), (p / "meta.json").write_text("{}")), "missing summary.parquet"),
    (lambda p: p.write_text("not a folder"), "is a file"),
])
def test_not_an_experiment_folder_is_a_one_line_config_error(tmp_path, capsys, setup, expect):
    folder = tmp_path / "results"
    setup(folder)
    assert main(["report", str(folder)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("msksim: config error: report:")
    assert str(folder) in err and expect in err
    assert not (tmp_path / "results" / "report.html").exists()


def test_meta_without_scenarios_is_refused(experiment_dir, tmp_path, capsys):
    out = _copy(experiment_dir, tmp_path / "single")
    (out / "meta.json").write_text(json.dumps({"contract": "pbr"}))
    assert main(["report", str(out)]) == 2
    assert "lists no scenarios" in capsys.readouterr().err
