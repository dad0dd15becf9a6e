"""Running the model: the public entry points the CLI, the app and experiments share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from .config import CityConfig
from .io import provenance
from .model import MSKModel
from .results import summarise


@dataclass
class RunResult:
    weekly: pd.DataFrame
    ledger: pd.DataFrame
    meta: dict
    year_results: list[dict]

    def summary(self) -> pd.DataFrame:
        return summarise(self.weekly, self.ledger, self.meta)


def run_once(cfg: CityConfig, contract: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             channels: dict[str, str] | None = None) -> RunResult:
    """Simulate the warm-up and the contract years under one payment rule (`channels`: see
    `MSKModel`)."""
    contract = contract or cfg.contract.rule
    model = MSKModel(cfg, contract=contract, channels=channels)
    model.run(progress=progress)
    meta = {
        **provenance(),
        "seed": model.seed,
        "contract": contract,
        "config": cfg.model_dump(mode="json"),
        "services": {n: {"kind": s.kind, "label": s.label or n, "provider": s.provider,
                         "surgical": model.pathway.lists_for_surgery(n)}
                     for n, s in cfg.services.items() if s.enabled},
        "providers": {k: {"name": p.name, "kind": p.kind} for k, p in cfg.providers.items()},
        "weeks": {"warmup": cfg.run.warmup_weeks, "contract": model.end_week},
        "year_results": model.year_results,
    }
    return RunResult(weekly=model.recorder.frame(), ledger=model.ledger.frame(), meta=meta,
                     year_results=model.year_results)
