"""Payment rules behind one interface, and the ledger every payment is written to.

A rule answers two questions:
  * `revenue_gbp(decider, performer, activity)`: how one unit of `activity`, done by `performer`,
    changes `decider`'s income (used in decisions, through `unit_margin_gbp`), and
  * `weekly_payments` / `year_end_payments`: who pays whom, written as ledger rows.
Decision code only ever asks for margins, so the contract moves behaviour without any branch on
which contract is in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import CityConfig, CobicConfig, OutcomeMeasure

COMMISSIONER = "commissioner"


@dataclass
class Activities:
    """The billable activities of a city, with national prices."""

    names: list[str]
    price_gbp: np.ndarray

    @classmethod
    def from_config(cls, cfg: CityConfig) -> Activities:
        t = cfg.contract.tariff
        names: list[str] = []
        prices: list[float] = []
        specialties = sorted(set(t.outpatient_first_gbp) | set(t.outpatient_follow_up_gbp))
        for spec in specialties:
            names += [f"first:{spec}", f"follow_up:{spec}"]
            prices += [t.outpatient_first_gbp.get(spec, 0.0),
                       t.outpatient_follow_up_gbp.get(spec, 0.0)]
        names += ["community_first", "community_contact", "hub_triage", "imaging",
                  "biologic_week"]
        prices += [t.community_contact_gbp, t.community_contact_gbp, t.hub_triage_gbp,
                   t.imaging_gbp, t.biologic_gbp_per_year / 52.0]
        for proc, pc in cfg.procedures.items():
            names.append(f"procedure:{proc}")
            prices.append(pc.tariff_gbp)
        return cls(names=names, price_gbp=np.asarray(prices, dtype=np.float64))

    def index(self, name: str) -> int:
        return self.names.index(name)


@dataclass
class Ledger:
    """Every payment: week, payer, payee, activity, count and amount (GBP)."""

    rows: list[tuple[int, str, str, str, float, float]] = field(default_factory=list)

    def pay(self, week: int, payer: str, payee: str, activity: str, count: float,
            amount_gbp: float) -> None:
        if amount_gbp < 0:
            raise ValueError("a payment cannot be negative; swap payer and payee")
        if amount_gbp > 0:
            self.rows.append((week, payer, payee, activity, float(count), float(amount_gbp)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["week", "payer", "payee", "activity", "count",
                                                "amount_gbp"])


@dataclass
class ContractYearState:
    """What a rule needs to know about the current contract year."""

    year: int
    envelope_gbp: float
    adults_at_start: int


class PaymentRule:
    """Base rule. Subclasses say who is paid for what; margins follow from that."""

    name = "base"

    def __init__(self, cfg: CityConfig, activities: Activities, providers: list[str]):
        self.cfg = cfg
        self.activities = activities
        self.providers = providers
        self.price_factor = {p: cfg.providers[p].local_price_factor for p in providers}
        self.cost_ratio = {p: cfg.providers[p].marginal_cost_to_tariff for p in providers}
        self.year_state: ContractYearState | None = None
        #: per outcome measure: (the mean it stands at, patients counted a year)
        self.outcome_baseline: dict[str, tuple[float, float]] = {}

    # --- what decisions see -------------------------------------------------------------------
    def revenue_gbp(self, decider: str, performer: str, activity: int) -> float:
        raise NotImplementedError

    def marginal_cost_gbp(self, provider: str, activity: int) -> float:
        if provider not in self.cost_ratio:
            return 0.0
        return self.cost_ratio[provider] * float(self.activities.price_gbp[activity])

    def unit_margin_gbp(self, decider: str, performer: str, activity: int) -> float:
        """Change in `decider`'s margin when `performer` does one unit of `activity`."""
        cost = self.marginal_cost_gbp(performer, activity) if decider == performer else 0.0
        return self.revenue_gbp(decider, performer, activity) - cost

    def outcome_value_gbp(self, decider: str, measure: str, gain: np.ndarray) -> np.ndarray:
        """What `decider` expects to earn from one patient's gain on an outcome measure."""
        return np.zeros_like(gain, dtype=np.float64)

    def set_outcome_baseline(self, baseline: dict[str, tuple[float, float]]) -> None:
        """Where each outcome measure stands (mean) and how many patients a year it counts."""
        self.outcome_baseline = dict(baseline)

    # --- who pays whom ------------------------------------------------------------------------
    def start_year(self, state: ContractYearState) -> None:
        self.year_state = state

    def weekly_payments(self, week: int, counts: np.ndarray, n_adults: int,
                        ledger: Ledger) -> None:
        raise NotImplementedError

    def year_end_payments(self, week: int, outcomes: dict[str, float], ledger: Ledger) -> dict:
        return {}


class ActivityTariff(PaymentRule):
    """Payment by Results: the commissioner pays each provider the tariff for each activity."""

    name = "pbr"

    def revenue_gbp(self, decider: str, performer: str, activity: int) -> float:
        if decider != performer or decider not in self.price_factor:
            return 0.0
        return self.price_factor[decider] * float(self.activities.price_gbp[activity])

    def weekly_payments(self, week: int, counts: np.ndarray, n_adults: int,
                        ledger: Ledger) -> None:
        for p_idx, a_idx in zip(*np.nonzero(counts), strict=True):
            p = self.providers[p_idx]
            n = counts[p_idx, a_idx]
            amount = n * self.price_factor[p] * self.activities.price_gbp[a_idx]
            ledger.pay(week, COMMISSIONER, p, self.activities.names[a_idx], n, amount)


class Cobic(PaymentRule):
    """Capitated outcome-based incentivised contract with a prime contractor.

    The commissioner pays the prime a capitation per registered adult out of the year's
    envelope, keeps a retained share, and withholds an outcome incentive pool paid at year end on
    a proportional scale against outcome targets. The prime pays subcontractors for their
    activity (at a share of tariff) and pays at full tariff for patients who choose providers
    outside its supply chain (out of area).
    """

    name = "cobic"

    def __init__(self, cfg: CityConfig, activities: Activities, providers: list[str]):
        super().__init__(cfg, activities, providers)
        if cfg.contract.cobic is None:
            raise ValueError("contract.cobic: the COBIC rule needs a contract.cobic section")
        self.c: CobicConfig = cfg.contract.cobic
        self.prime = self.c.prime_provider
        self.weekly_capitation_per_adult_gbp = 0.0

    def incentive_share(self, year: int) -> float:
        shares = self.c.outcome_incentive_share_by_year
        return shares[min(year, len(shares) - 1)]

    def pool_gbp(self) -> float:
        ys = self.year_state
        return 0.0 if ys is None else ys.envelope_gbp * self.incentive_share(ys.year)

    def sub_price_gbp(self, performer: str, activity: int) -> float:
        """What the prime pays `performer` for one unit of `activity`."""
        price = float(self.activities.price_gbp[activity])
        if performer == self.prime:
            return 0.0
        if self.cfg.providers[performer].kind == "out_of_area":
            return self.price_factor[performer] * price
        return self.c.subcontract_price_share * price

    def revenue_gbp(self, decider: str, performer: str, activity: int) -> float:
        if decider == self.prime:
            return -self.sub_price_gbp(performer, activity)
        if decider == performer:
            return self.sub_price_gbp(performer, activity)
        return 0.0

    def outcome_value_gbp(self, decider: str, measure: str, gain: np.ndarray) -> np.ndarray:
        """The prime's expected change in outcome payment from treating one more patient.

        A measure is a mean over the year's patients, so one more patient with gain g moves it
        by (g − mean) / n, which the pool pays for on the proportional scale between floor and
        target; where the measure is already at or beyond either end the margin is nil.
        """
        gain = np.asarray(gain, dtype=np.float64)
        if decider != self.prime or measure not in self.outcome_baseline:
            return np.zeros_like(gain)
        mean, n = self.outcome_baseline[measure]
        for m in self.c.outcome_measures:
            if m.measure == measure and m.floor < mean < m.target:
                return (self.pool_gbp() * m.weight / (m.target - m.floor)
                        * (gain - mean) / max(n, 1.0))
        return np.zeros_like(gain)

    def start_year(self, state: ContractYearState) -> None:
        super().start_year(state)
        share = 1.0 - self.c.commissioner_retained_share - self.incentive_share(state.year)
        self.weekly_capitation_per_adult_gbp = (state.envelope_gbp * max(share, 0.0)
                                                / max(state.adults_at_start, 1) / 52.0)

    def weekly_payments(self, week: int, counts: np.ndarray, n_adults: int,
                        ledger: Ledger) -> None:
        ledger.pay(week, COMMISSIONER, self.prime, "capitation", n_adults,
                   n_adults * self.weekly_capitation_per_adult_gbp)
        for p_idx, a_idx in zip(*np.nonzero(counts), strict=True):
            p = self.providers[p_idx]
            if p == self.prime:
                continue
            n = counts[p_idx, a_idx]
            amount = n * self.sub_price_gbp(p, a_idx)
            ledger.pay(week, self.prime, p, self.activities.names[a_idx], n, amount)

    def year_end_payments(self, week: int, outcomes: dict[str, float], ledger: Ledger) -> dict:
        """Pay the outcome pool on a proportional scale; return each measure's achievement."""
        pool = self.pool_gbp()
        achieved: dict[str, float] = {}
        earned = 0.0
        for m in self.c.outcome_measures:
            score = measure_score(m, outcomes.get(m.measure, float("nan")))
            achieved[m.measure] = score
            earned += pool * m.weight * score
            n = outcomes.get(f"n_{m.measure}", 0.0)
            if n > 0 and np.isfinite(outcomes.get(m.measure, np.nan)):
                self.outcome_baseline[m.measure] = (outcomes[m.measure], n)
        ledger.pay(week, COMMISSIONER, self.prime, "outcome_incentive", 1, earned)
        achieved["earned_gbp"] = earned
        achieved["pool_gbp"] = pool
        return achieved


def measure_score(m: OutcomeMeasure, value: float) -> float:
    """0 at or below the floor, 1 at or above the target, proportional in between."""
    if not np.isfinite(value):
        return 0.0
    return float(np.clip((value - m.floor) / (m.target - m.floor), 0.0, 1.0))


RULES: dict[str, type[PaymentRule]] = {"pbr": ActivityTariff, "cobic": Cobic}


def make_rule(name: str, cfg: CityConfig, activities: Activities,
              providers: list[str]) -> PaymentRule:
    if name not in RULES:
        raise ValueError(f"contract: {name!r} is not a payment rule; allowed: {sorted(RULES)}")
    return RULES[name](cfg, activities, providers)
