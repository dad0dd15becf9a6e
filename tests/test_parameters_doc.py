"""The parameter reference (docs/parameters.md) is current, complete, true to the default city's
values, and its summary adds up."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from msksim.cli import main
from msksim.config import CityConfig, load_config
from msksim.parameters import (
    STATUSES,
    YamlComments,
    classify_source,
    parameter_reference,
    unit_of,
    write_parameter_reference,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "parameters.md"
REGENERATE = "run `msksim params --out docs/parameters.md` and commit the result"
COLUMNS = ("parameter", "type", "unit", "value", "range", "status", "source")


@pytest.fixture(scope="module")
def reference() -> str:
    return parameter_reference()


@pytest.fixture(scope="module")
def cfg() -> CityConfig:
    return load_config()


def table_rows(text: str) -> list[dict[str, str]]:
    """The parameter rows of every table: one dict of cells per row."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == len(COLUMNS), line
        row = dict(zip(COLUMNS, cells, strict=True))
        row["path"] = row["parameter"].strip("`")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# (a) the committed file is current
# ----------------------------------------------------------------------------------------------
def test_committed_reference_is_current(reference):
    assert DOC.is_file(), f"docs/parameters.md is missing: {REGENERATE}"
    committed = DOC.read_text(encoding="utf-8")
    if committed != reference:
        old, new = committed.splitlines(), reference.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
                     min(len(old), len(new)))
        pytest.fail(f"docs/parameters.md is stale (first difference at line {first + 1}): "
                    f"{REGENERATE}", pytrace=False)


def test_reference_is_deterministic(reference):
    assert parameter_reference() == reference
    assert parameter_reference(load_config(), ROOT / "configs" / "sheffield.yaml").count(
        "\n") == reference.count("\n")


# ----------------------------------------------------------------------------------------------
# (b) every leaf field of the config tree appears, with the city's value
# ----------------------------------------------------------------------------------------------
def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The model classes an annotation can hold (through Annotated, Optional and unions)."""
    if get_origin(annotation) is Annotated:
        return _models_in(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _container(annotation: Any) -> tuple[str | None, Any]:
    """('dict' or 'list', the entries' annotation) for a collection, else (None, None)."""
    if get_origin(annotation) is Annotated:
        return _container(get_args(annotation)[0])
    if get_origin(annotation) is dict:
        return "dict", get_args(annotation)[1]
    if get_origin(annotation) is list:
        return "list", get_args(annotation)[0]
    return None, None


def expected_leaves(model: type[BaseModel], inst: BaseModel | None, prefix: str = "") -> set[str]:
    """Dotted paths of every leaf field, walking the pydantic models themselves (not the schema
    the reference is drawn from): the city's own names for collections of models, `<name>` or
    `<i>` for a kind of entry the city has none of."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        value = getattr(inst, name) if inst is not None else None
        models = _models_in(info.annotation)
        kind, item = _container(info.annotation)
        item_models = _models_in(item) if kind else []
        if models:
            sub = value if isinstance(value, BaseModel) else None
            out |= expected_leaves(type(sub) if sub is not None else models[0], sub, path + ".")
        elif item_models:
            entries = list(value.items() if kind == "dict" else enumerate(value)) if value else []
            used = set()
            for key, entry in entries:
                used.add(type(entry))
                out |= expected_leaves(type(entry), entry, f"{path}.{key}.")
            placeholder = "<name>" if kind == "dict" else "<i>"
            for cls in item_models:
                if cls not in used:
                    out |= expected_leaves(cls, None, f"{path}.{placeholder}.")
        else:
            out.add(path)
    return out


def test_every_leaf_field_appears_once(reference, cfg):
    rendered = [r["path"] for r in table_rows(reference)]
    expected = expected_leaves(CityConfig, cfg)
    missing = sorted(expected - set(rendered))
    extra = sorted(set(rendered) - expected)
    assert not missing, f"parameters missing from the reference: {missing[:20]}"
    assert not extra, f"rows that are not config fields: {extra[:20]}"
    assert len(rendered) == len(set(rendered)), "a parameter is listed twice"
    # the walk covers every model of the tree, not just the top
    assert "behaviour.adaptation.levers.theatre_sessions_factor.step" in expected
    assert "procedures.hip_replacement.case_types.revision.los_days_mean" in expected
    assert "capacity.changes.<i>.factor" in expected


def _lookup(cfg: CityConfig, path: str) -> Any:
    value: Any = cfg
    for part in path.split("."):
        if isinstance(value, BaseModel):
            value = getattr(value, part)
        elif isinstance(value, dict):
            value = value[part]
        else:
            value = value[int(part)]
    return to_jsonable_python(value)


def _norm(x: Any) -> Any:
    """Numbers as floats (YAML 1.1 reads '2e-05' as text), containers element-wise."""
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return x
    if isinstance(x, list):
        return [_norm(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _norm(v) for k, v in x.items()}
    return x


def test_values_are_the_default_citys(reference, cfg):
    checked = 0
    for row in table_rows(reference):
        if "<" in row["path"]:
            assert row["value"].startswith("—"), row
            continue
        truth = _lookup(cfg, row["path"])
        if isinstance(truth, list) and len(truth) > 8:  # abbreviated, listed in full below
            assert row["value"].startswith(f"{len(truth)} items:"), row
            full = re.search(rf"^- `{re.escape(row['path'])}` \({len(truth)} items\): (.*)$",
                             reference, re.M)
            assert full, f"{row['path']}: the full list is not given"
            shown = [yaml.safe_load(s) for s in re.findall(r"`([^`]*)`", full.group(1))]
            assert _norm(shown) == _norm(truth), row["path"]
            continue
        code = re.match(r"`([^`]*)`", row["value"])
        assert code, row
        shown = code.group(1).replace("\\|", "|")
        parsed = "" if shown == '""' else (shown if isinstance(truth, str) else
                                           yaml.safe_load(shown))
        assert _norm(parsed) == _norm(truth), (row["path"], shown, truth)
        checked += 1
    assert checked > 500


def test_statuses_and_units(reference):
    rows = table_rows(reference)
    assert {r["status"] for r in rows} <= set(STATUSES)
    for r in rows:
        assert r["unit"] and r["source"], r
    units = {r["path"]: r["unit"] for r in rows}
    assert units["population.registered_adults"] == "—"
    assert units["contract.cobic.baseline_spend_gbp_per_year"] == "£ per year"
    assert units["services.sth_theatres.session_minutes"] == "minutes"
    assert units["conditions.back_pain.onset_per_1000_per_year"] == "per 1,000 per year"
    assert units["behaviour.adaptation.levers.self_management_share.step"] == "share (0-1)"


def test_unit_and_status_rules():
    assert unit_of("operating_weeks_per_year") == "weeks per year"
    assert unit_of("cost_gbp_per_practice_per_year") == "£ per practice per year"
    assert unit_of("w_money_qaly_per_gbp") == "QALY per £"
    assert unit_of("mortality_per_1000_per_year_by_age_band") == "per 1,000 per year"
    assert unit_of("scale") == ""
    assert classify_source("assumption: spread", True) == "assumption"
    assert classify_source("calibrated: to ~1,000 hip replacements", True) == "calibrated"
    assert classify_source("HEP (Harper 2023): mean 16.5 days", True) == "sourced"
    assert classify_source("display name", False) == "design"
    assert classify_source("long-term monitoring", True) == "assumption"  # unsourced number


def test_yaml_comments_come_from_the_right_lines():
    text = ("a:\n"
            "  b: 1   # source of b\n"
            "  c: 'x # not a comment'\n"
            "  d: {e: 2, f: 3}  # e: assumption; f: Smith 2020\n"
            "  g:          # about g\n"
            "    h: 4\n"
            "# a full-line comment\n"
            "  i: 5\n")
    comments = YamlComments(text)
    assert comments.comment("a.b") == "source of b"
    assert comments.comment("a.c") == ""
    assert comments.comment("a.d.e") == "e: assumption; f: Smith 2020"
    assert comments.block_comment("a.g") == "about g"
    assert comments.comment("a.g.h") == ""
    assert comments.comment("a.i") == ""


# ----------------------------------------------------------------------------------------------
# (c) the summary adds up
# ----------------------------------------------------------------------------------------------
def test_summary_counts_add_up(reference):
    rows = table_rows(reference)
    summary = {}
    total = None
    for line in reference.split("## How to read")[0].splitlines():
        m = re.match(r"^\| \[(\w+)\]\(#\w+\) \| (.*) \|$", line)
        if m:
            summary[m.group(1)] = [int(x) for x in m.group(2).split(" | ")]
        m = re.match(r"^\| \*\*total\*\* \| (.*) \|$", line)
        if m:
            total = [int(x.strip("*")) for x in m.group(1).split(" | ")]
    assert summary and total, "summary table not found"
    n_status = len(STATUSES)
    for section, counts in summary.items():
        assert counts[0] == sum(counts[1:1 + n_status]), section
        body = [r for r in rows if (r["path"].split(".")[0] if r["path"].split(".")[0] in summary
                                    else "city") == section]
        assert counts[0] == len(body), section
        for i, status in enumerate(STATUSES):
            assert counts[1 + i] == sum(r["status"] == status for r in body), (section, status)
    assert total == [sum(col) for col in zip(*summary.values(), strict=True)]
    assert total[0] == len(rows)
    headline = re.search(r"\*\*(\d+) parameters\*\*", reference)
    assert headline and int(headline.group(1)) == len(rows)
    for i, status in enumerate(STATUSES):
        assert f"**{total[1 + i]} {status}**" in reference, status


# ----------------------------------------------------------------------------------------------
# (d) the command line writes the same text
# ----------------------------------------------------------------------------------------------
def test_cli_params_out_writes_the_reference(run_cli, tmp_path, reference):
    out = tmp_path / "docs" / "parameters.md"
    proc = run_cli("params", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert out.read_text(encoding="utf-8") == reference
    assert [p.name for p in out.parent.iterdir()] == ["parameters.md"]  # no temporary left


def test_cli_params_prints_the_reference(run_cli, reference):
    proc = run_cli("params")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reference


def test_write_refuses_a_folder(tmp_path, capsys):
    assert main(["params", "--out", str(tmp_path)]) == 1
    assert "folder" in capsys.readouterr().err
    path = write_parameter_reference(tmp_path / "p.md")
    assert path.read_text(encoding="utf-8") == parameter_reference()
