"""Bad configs are refused by the CLI with exit code 2 and ONE line naming the setting.

Every case loads configs/sheffield.yaml, breaks one thing, writes it to tmp_path and runs the
CLI in a subprocess, exactly as a user would.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

EXIT_CONFIG = 2


def _first_service(data: dict, kind: str) -> str:
    return next(n for n, s in data["services"].items() if s.get("kind") == kind)


def _wrong_type(d: dict) -> str:
    t = _first_service(d, "theatre")
    d["services"][t]["sessions_per_week"] = "lots"
    return rf"services\.{t}\.sessions_per_week"


def _negative_capacity(d: dict) -> str:
    s = _first_service(d, "outpatient")
    d["services"][s]["first_slots_per_week"] = -10
    return rf"services\.{s}\.first_slots_per_week"


def _negative_hub_capacity(d: dict) -> str:
    # the service is literally called "hub": its name must survive in the message
    assert "hub" in d["services"]
    d["services"]["hub"]["triage_slots_per_week"] = -5
    return r"services\.hub\.triage_slots_per_week"


def _too_many_conditions(d: dict) -> str:
    for i in range(64 - len(d["conditions"])):
        d["conditions"][f"extra_{i}"] = dict(d["conditions"]["back_pain"])
    return r"conditions: 64 given; at most 63"


def _scale_zero(d: dict) -> str:
    d["run"]["scale"] = 0
    return r"run\.scale"


def _years_zero(d: dict) -> str:
    d["run"]["years"] = 0
    return r"run\.years"


def _unknown_top_level(d: dict) -> str:
    d["servces"] = {}
    return r"servces"


def _unknown_nested(d: dict) -> str:
    d["run"]["yeers"] = 3
    return r"run\.yeers"


def _unknown_in_service(d: dict) -> str:
    t = _first_service(d, "theatre")
    d["services"][t]["sesions_per_week"] = 3
    return rf"services\.{t}\.sesions_per_week"


def _edge_to_missing_service(d: dict) -> str:
    d["pathway"]["edges"][3] = ["gp", "no_such_clinic"]
    return r"pathway\.edges\.3\b"


def _gp_straight_to_theatre(d: dict) -> str:
    t = _first_service(d, "theatre")
    d["pathway"]["edges"].append(["gp", t])
    return rf"pathway\.edges\.{len(d['pathway']['edges']) - 1}\b"


def _theatre_refers_on(d: dict) -> str:
    t = _first_service(d, "theatre")
    o = _first_service(d, "outpatient")
    d["pathway"]["edges"].append([t, o])
    return rf"pathway\.edges\.{len(d['pathway']['edges']) - 1}\b"


def _missing_provider(d: dict) -> str:
    t = _first_service(d, "theatre")
    d["services"][t]["provider"] = "nobody_at_all"
    return rf"services\.{t}\.provider"


def _missing_procedure(d: dict) -> str:
    c = next(iter(d["conditions"]))
    d["conditions"][c]["procedure"] = "toe_transplant"
    return rf"conditions\.{c}\.procedure"


def _age_shares(d: dict) -> str:
    d["population"]["age_band_shares"] = [0.2] * 8
    # "population.age_band_shares" or "population: age_band_shares ..." both name the setting
    return r"population[.:]\s*age_band_shares"


def _bad_rule(d: dict) -> str:
    d["contract"]["rule"] = "fee_for_service"
    return r"contract\.rule"


def _missing_name(d: dict) -> str:
    del d["name"]
    return r"(^|[\s:])name\b"


def _bad_service_kind(d: dict) -> str:
    t = _first_service(d, "theatre")
    d["services"][t]["kind"] = "clinic"
    return rf"services\.{t}\b"


def _outcome_target_below_floor(d: dict) -> str:
    d["contract"]["cobic"]["outcome_measures"] = [
        {"measure": "eq5d_gain", "floor": 0.3, "target": 0.2, "weight": 1.0}]
    return r"contract\.cobic\.outcome_measures\.0"


def _bad_prime(d: dict) -> str:
    d["contract"]["cobic"]["prime_provider"] = "nobody_at_all"
    return r"contract\.cobic\.prime_provider"


def _spoa_disabled(d: dict) -> str:
    d["services"]["hub"]["enabled"] = False
    d["pathway"]["single_point_of_access"] = "hub"
    return r"pathway\.single_point_of_access"


def _friction_named_hub(d: dict) -> str:
    d["behaviour"]["gp_refer"].setdefault("friction_qaly", {})["hub"] = "high"
    return r"behaviour\.gp_refer\.friction_qaly\.hub"


MUTATIONS: dict[str, Callable[[dict], str]] = {
    "wrong_type": _wrong_type,
    "negative_capacity": _negative_capacity,
    "negative_capacity_of_service_named_hub": _negative_hub_capacity,
    "scale_zero": _scale_zero,
    "years_zero": _years_zero,
    "unknown_key_top_level": _unknown_top_level,
    "unknown_key_nested": _unknown_nested,
    "unknown_key_in_service": _unknown_in_service,
    "edge_to_missing_service": _edge_to_missing_service,
    "edge_gp_to_theatre": _gp_straight_to_theatre,
    "edge_from_theatre": _theatre_refers_on,
    "service_provider_missing": _missing_provider,
    "condition_procedure_missing": _missing_procedure,
    "age_band_shares_not_one": _age_shares,
    "contract_rule_unknown": _bad_rule,
    "missing_required_name": _missing_name,
    "service_kind_unknown": _bad_service_kind,
    "outcome_target_below_floor": _outcome_target_below_floor,
    "cobic_prime_missing": _bad_prime,
    "single_point_of_access_disabled": _spoa_disabled,
    "friction_key_named_hub_wrong_type": _friction_named_hub,
    "too_many_conditions": _too_many_conditions,
}

#: cases also run through `run` (they must fail before any simulation starts)
RUN_CASES = ("wrong_type", "edge_gp_to_theatre", "service_provider_missing", "unknown_key_nested",
             "age_band_shares_not_one")


def assert_one_line_config_error(proc, pattern: str | None = None) -> str:
    """Exit 2, one non-empty stderr line naming the field, no traceback anywhere."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    assert proc.returncode == EXIT_CONFIG, (proc.returncode, proc.stderr, proc.stdout)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {proc.stderr!r}"
    line = lines[0]
    assert line.strip(), "empty error line"
    if pattern is not None:
        assert re.search(pattern, line), f"{pattern!r} not named in {line!r}"
    return line


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_check_rejects_bad_config(case, sheffield_data, write_yaml, run_cli):
    pattern = MUTATIONS[case](sheffield_data)
    path = write_yaml(sheffield_data)
    proc = run_cli("check", "--config", path)
    assert_one_line_config_error(proc, pattern)


@pytest.mark.parametrize("case", RUN_CASES)
def test_run_rejects_bad_config(case, sheffield_data, write_yaml, run_cli, tmp_path):
    pattern = MUTATIONS[case](sheffield_data)
    path = write_yaml(sheffield_data)
    out = tmp_path / "out"
    proc = run_cli("run", "--config", path, "--scale", "0.01", "--years", "1", "--out", out)
    assert_one_line_config_error(proc, pattern)
    assert not (out / "meta.json").exists(), "a refused config must not produce results"


def test_missing_file(run_cli, tmp_path):
    missing = tmp_path / "no_such_city.yaml"
    proc = run_cli("check", "--config", missing)
    line = assert_one_line_config_error(proc)
    assert "no_such_city.yaml" in line and "not found" in line


def test_missing_file_through_run(run_cli, tmp_path):
    proc = run_cli("run", "--config", tmp_path / "nope.yaml", "--scale", "0.01", "--years", "1")
    line = assert_one_line_config_error(proc)
    assert "nope.yaml" in line


def test_broken_yaml(write_yaml, run_cli):
    path = write_yaml(raw="name: Sheffield\nrun: {years: [1, 2\n")
    proc = run_cli("check", "--config", path)
    line = assert_one_line_config_error(proc)
    assert path.name in line and "YAML" in line
    assert re.search(r"line \d+", line), line


def test_yaml_list_not_mapping(write_yaml, run_cli):
    path = write_yaml(raw="- name: Sheffield\n- run: {}\n")
    proc = run_cli("check", "--config", path)
    line = assert_one_line_config_error(proc)
    assert path.name in line and "mapping" in line


def test_not_utf8(write_yaml, run_cli):
    path = write_yaml(raw=b"name: Sheff\xe9ld\n")
    line = assert_one_line_config_error(run_cli("check", "--config", path))
    assert path.name in line


def test_bad_overlay_is_named(sheffield_data, write_yaml, run_cli):
    base = write_yaml(sheffield_data)
    overlay = write_yaml({"services": {_first_service(sheffield_data, "theatre"):
                                       {"sessions_per_week": -1}}})
    proc = run_cli("check", "--config", base, "--overlay", overlay)
    assert_one_line_config_error(proc, r"services\.\w+\.sessions_per_week")


def test_years_zero_on_command_line(run_cli):
    proc = run_cli("run", "--scale", "0.01", "--years", "0")
    line = assert_one_line_config_error(proc, r"run\.years")
    assert "0" in line


def test_negative_scale_on_command_line(run_cli):
    assert_one_line_config_error(run_cli("run", "--scale", "-0.5", "--years", "1"), r"run\.scale")


def test_argparse_rejects_unknown_contract(run_cli):
    proc = run_cli("run", "--contract", "foo", "--scale", "0.01", "--years", "1")
    assert proc.returncode == EXIT_CONFIG
    assert "Traceback" not in proc.stderr
    assert "foo" in proc.stderr and "invalid choice" in proc.stderr


@pytest.mark.parametrize("value", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_non_finite_capacity_is_refused(value, sheffield_data, write_yaml, run_cli):
    """An infinite or NaN capacity is not a capacity: it must be refused, not simulated."""
    t = _first_service(sheffield_data, "theatre")
    sheffield_data["services"][t]["sessions_per_week"] = value  # YAML .inf / .nan
    path = write_yaml(sheffield_data)
    proc = run_cli("check", "--config", path)
    assert_one_line_config_error(proc, rf"services\.{t}\.sessions_per_week")


def test_non_finite_tariff_is_refused(sheffield_data, write_yaml, run_cli):
    """An infinite tariff would turn every margin and payment into inf/NaN."""
    proc_name = next(iter(sheffield_data["procedures"]))
    sheffield_data["procedures"][proc_name]["tariff_gbp"] = float("inf")
    path = write_yaml(sheffield_data)
    assert_one_line_config_error(run_cli("check", "--config", path),
                                 rf"procedures\.{proc_name}\.tariff_gbp")
