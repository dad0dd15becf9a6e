"""The few hundred decision makers, as Mesa agents: GP practices and provider organisations."""

from __future__ import annotations

import mesa
import numpy as np

from .config import ProviderConfig


class GPPractice(mesa.Agent):
    """A GP practice: its list and how readily it refers (practices really do vary)."""

    def __init__(self, model: mesa.Model, index: int, list_weight: float,
                 referral_propensity_z: float):
        super().__init__(model)
        self.index = index
        self.list_weight = float(list_weight)
        #: shift on the value of every referral option, in units of the GP decision's logit
        #: scale (0 = a typical practice)
        self.referral_propensity_z = float(referral_propensity_z)


class Provider(mesa.Agent):
    """A provider organisation: owns services, earns income, bears costs, keeps a P&L."""

    def __init__(self, model: mesa.Model, key: str, cfg: ProviderConfig):
        super().__init__(model)
        self.key = key
        self.name = cfg.name
        self.kind = cfg.kind
        self.fixed_cost_gbp_per_week = cfg.fixed_cost_gbp_per_year / 52.0
        self.income_gbp = 0.0
        self.cost_gbp = 0.0
        self.paid_out_gbp = 0.0

    @property
    def margin_gbp(self) -> float:
        return self.income_gbp - self.cost_gbp - self.paid_out_gbp


def practice_weights(n: int, sd_log: float, rng: np.random.Generator) -> np.ndarray:
    w = np.exp(sd_log * rng.standard_normal(n))
    return w / w.sum()
