"""Shared fixtures for the msksim test suite.

Everything here keeps runs small (scale 0.01-0.05, one contract year, a few warm-up weeks); the
whole suite, the browser tests of the app included, takes about five to seven minutes on two
cores.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from msksim.config import CityConfig, load_config

REPO = Path(__file__).resolve().parents[1]

# keep hypothesis's cache inside tests/ (it would otherwise create <repo>/.hypothesis)
set_hypothesis_home_dir(Path(__file__).resolve().parent / ".hypothesis")
# no per-example time limit: the first call of a compiled kernel (msksim.kernels) with new
# argument types compiles it, which on a fresh checkout takes longer than hypothesis's default
settings.register_profile("msksim", deadline=None)
settings.load_profile("msksim")
DEFAULT_CONFIG = REPO / "configs" / "sheffield.yaml"

#: the run settings every quick model run in the suite uses unless it says otherwise
SMALL_RUN = {"scale": 0.03, "years": 1, "warmup_weeks": 6}


def small_config(overlays: list | tuple = (), **run) -> CityConfig:
    """The built-in city at a small scale for one year, plus optional overlays."""
    return load_config(None, overlays=[*overlays, {"run": {**SMALL_RUN, **run}}])


@pytest.fixture
def small_cfg() -> Callable[..., CityConfig]:
    """Factory: `small_cfg(scale=..., seed=..., overlays=[...])` -> a validated CityConfig."""
    return small_config


@pytest.fixture
def sheffield_data() -> dict:
    """configs/sheffield.yaml as a plain (mutable, private) mapping."""
    with open(DEFAULT_CONFIG, encoding="utf-8") as fh:
        return copy.deepcopy(yaml.safe_load(fh))


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """Write a mapping (or raw text) to a YAML file in tmp_path and return its path."""
    counter = iter(range(10_000))

    def write(data: object = None, raw: str | bytes | None = None, name: str | None = None):
        path = tmp_path / (name or f"config_{next(counter)}.yaml")
        if raw is None:
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        elif isinstance(raw, bytes):
            path.write_bytes(raw)
        else:
            path.write_text(raw, encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m msksim.cli ARGS` in a subprocess (cwd = tmp_path)."""

    def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "msksim.cli", *map(str, args)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=timeout)

    return run


def metric(last: dict, name: str, **groups: str) -> float:
    """A value from `recorder.last` (keyed by (metric, *results.GROUPS)); 0 if absent."""
    from msksim.results import GROUPS

    key = (name,) + tuple(groups.get(g) for g in GROUPS)
    return last.get(key, 0.0)


@pytest.fixture
def last_metric() -> Callable[..., float]:
    return metric
