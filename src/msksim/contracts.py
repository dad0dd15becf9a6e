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

from .config import BlendedConfig, BlockConfig, CityConfig, CobicConfig, OutcomeMeasure
from .timeline import WEEKS_PER_YEAR

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
        #: each provider's annual income under the status quo (GBP a year, at the run's scale)
        self.status_quo_income: dict[str, float] = {}

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

    def set_status_quo_income(self, income_gbp_per_year: dict[str, float]) -> None:
        """Each provider's income a year before the contract, which fixed sums are set from."""
        for key, value in income_gbp_per_year.items():
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"status-quo income of '{key}': {value} must be a finite sum "
                                 f"of at least 0")
        self.status_quo_income = {k: float(v) for k, v in income_gbp_per_year.items()}

    def contract_year(self) -> int:
        """The current contract year (0 before any `start_year`)."""
        return 0 if self.year_state is None else self.year_state.year

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


class OutcomePool:
    """Outcome pools paid on a proportional scale against targets (COBIC and blended).

    Mixed into a `PaymentRule`, which supplies `outcome_baseline`; the rule sets
    `outcome_measures`.
    """

    outcome_measures: list[OutcomeMeasure]
    outcome_baseline: dict[str, tuple[float, float]]

    def pool_margin_gbp(self, pool_gbp: float, measure: str, gain: np.ndarray) -> np.ndarray:
        """Expected change in a pool's payment from one more patient with gain `gain`.

        A measure is a mean over the year's patients, so one more patient with gain g moves it
        by (g − mean) / n, which the pool pays for on the proportional scale between floor and
        target; where the measure is already at or beyond either end the margin is nil.
        """
        gain = np.asarray(gain, dtype=np.float64)
        if pool_gbp == 0.0 or measure not in self.outcome_baseline:
            return np.zeros_like(gain)
        mean, n = self.outcome_baseline[measure]
        for m in self.outcome_measures:
            if m.measure == measure and m.floor < mean < m.target:
                return (pool_gbp * m.weight / (m.target - m.floor)
                        * (gain - mean) / max(n, 1.0))
        return np.zeros_like(gain)

    def score_year(self, outcomes: dict[str, float]) -> dict[str, float]:
        """Each measure's score for the year; the year's means become the new baseline."""
        scores: dict[str, float] = {}
        for m in self.outcome_measures:
            scores[m.measure] = measure_score(m, outcomes.get(m.measure, float("nan")))
            n = outcomes.get(f"n_{m.measure}", 0.0)
            if n > 0 and np.isfinite(outcomes.get(m.measure, np.nan)):
                self.outcome_baseline[m.measure] = (outcomes[m.measure], n)
        return scores

    def earned_gbp(self, pool_gbp: float, scores: dict[str, float]) -> float:
        """What a pool pays for the year's scores: pool × Σ weight × score."""
        earned = 0.0
        for m in self.outcome_measures:
            earned += pool_gbp * m.weight * scores[m.measure]
        return earned


class Cobic(OutcomePool, PaymentRule):
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
        self.outcome_measures = self.c.outcome_measures
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
        """The prime's expected change in outcome payment from treating one more patient."""
        pool = self.pool_gbp() if decider == self.prime else 0.0
        return self.pool_margin_gbp(pool, measure, gain)

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
        achieved = self.score_year(outcomes)
        earned = self.earned_gbp(pool, achieved)
        ledger.pay(week, COMMISSIONER, self.prime, "outcome_incentive", 1, earned)
        return {**achieved, "earned_gbp": earned, "pool_gbp": pool}


class Block(PaymentRule):
    """A fixed annual sum per provider, paid weekly whatever the activity.

    Activity earns nothing, so every unit only costs its performer its marginal cost. The sum is
    `contract.block.annual_gbp` (for the whole city, so × run scale) or else the provider's
    status-quo income, uplifted each contract year.
    """

    name = "block"

    def __init__(self, cfg: CityConfig, activities: Activities, providers: list[str]):
        super().__init__(cfg, activities, providers)
        self.b: BlockConfig = cfg.contract.block

    def annual_sum_gbp(self, provider: str) -> float:
        """What `provider` is paid in the current contract year."""
        if provider in self.b.annual_gbp:
            base = self.b.annual_gbp[provider] * self.cfg.run.scale
        elif provider in self.status_quo_income:
            base = self.status_quo_income[provider]
        else:
            raise ValueError(f"contract.block.annual_gbp: no sum for '{provider}' and no "
                             f"status-quo income to set it from")
        return base * (1.0 + self.b.uplift_per_year) ** self.contract_year()

    def revenue_gbp(self, decider: str, performer: str, activity: int) -> float:
        return 0.0

    def weekly_payments(self, week: int, counts: np.ndarray, n_adults: int,
                        ledger: Ledger) -> None:
        for p in self.providers:
            ledger.pay(week, COMMISSIONER, p, "block", 1, self.annual_sum_gbp(p) / WEEKS_PER_YEAR)


class Blended(OutcomePool, PaymentRule):
    """A fixed part, a variable part at a share of tariff, and an outcome pool per provider.

    The fixed part and each provider's outcome pool are shares of its status-quo income,
    uplifted each contract year; the pools are paid at year end on the city's outcomes.
    """

    name = "blended"

    def __init__(self, cfg: CityConfig, activities: Activities, providers: list[str]):
        super().__init__(cfg, activities, providers)
        self.c: BlendedConfig = cfg.contract.blended
        self.outcome_measures = self.c.outcome_measures

    def _uplifted_status_quo_gbp(self, provider: str) -> float:
        return (self.status_quo_income.get(provider, 0.0)
                * (1.0 + self.c.uplift_per_year) ** self.contract_year())

    def fixed_gbp(self, provider: str) -> float:
        """The fixed part of `provider`'s income this contract year."""
        return self.c.fixed_share * self._uplifted_status_quo_gbp(provider)

    def pool_gbp(self, provider: str) -> float:
        """`provider`'s outcome pool this contract year (0 without a status-quo income)."""
        return self.c.outcome_share * self._uplifted_status_quo_gbp(provider)

    def variable_price_gbp(self, provider: str, activity: int) -> float:
        """What the commissioner pays `provider` per unit of `activity` on top of the fixed part."""
        return (self.c.variable_price_share * self.price_factor[provider]
                * float(self.activities.price_gbp[activity]))

    def revenue_gbp(self, decider: str, performer: str, activity: int) -> float:
        if decider != performer or decider not in self.price_factor:
            return 0.0
        return self.variable_price_gbp(decider, activity)

    def outcome_value_gbp(self, decider: str, measure: str, gain: np.ndarray) -> np.ndarray:
        """`decider`'s expected change in its own outcome payment from one more patient."""
        return self.pool_margin_gbp(self.pool_gbp(decider), measure, gain)

    def _need_status_quo(self) -> None:
        if not self.status_quo_income:
            raise ValueError("contract.blended: the fixed and outcome parts are shares of each "
                             "provider's status-quo income, which was not set")

    def weekly_payments(self, week: int, counts: np.ndarray, n_adults: int,
                        ledger: Ledger) -> None:
        self._need_status_quo()
        for p in self.providers:
            ledger.pay(week, COMMISSIONER, p, "fixed", 1, self.fixed_gbp(p) / WEEKS_PER_YEAR)
        for p_idx, a_idx in zip(*np.nonzero(counts), strict=True):
            p = self.providers[p_idx]
            n = counts[p_idx, a_idx]
            ledger.pay(week, COMMISSIONER, p, self.activities.names[a_idx], n,
                       n * self.variable_price_gbp(p, a_idx))

    def year_end_payments(self, week: int, outcomes: dict[str, float], ledger: Ledger) -> dict:
        """Pay each provider's pool on the city's scores; return the scores and the totals."""
        self._need_status_quo()
        pools = {p: self.pool_gbp(p) for p in self.providers}
        scores = self.score_year(outcomes)
        earned = 0.0
        for p, pool in pools.items():
            amount = self.earned_gbp(pool, scores)
            ledger.pay(week, COMMISSIONER, p, "outcome_incentive", 1, amount)
            earned += amount
        return {**scores, "earned_gbp": earned, "pool_gbp": sum(pools.values())}


def measure_score(m: OutcomeMeasure, value: float) -> float:
    """0 at or below the floor, 1 at or above the target, proportional in between."""
    if not np.isfinite(value):
        return 0.0
    return float(np.clip((value - m.floor) / (m.target - m.floor), 0.0, 1.0))


RULES: dict[str, type[PaymentRule]] = {"pbr": ActivityTariff, "cobic": Cobic, "block": Block,
                                        "blended": Blended}


def make_rule(name: str, cfg: CityConfig, activities: Activities,
              providers: list[str]) -> PaymentRule:
    if name not in RULES:
        raise ValueError(f"contract: {name!r} is not a payment rule; allowed: {sorted(RULES)}")
    return RULES[name](cfg, activities, providers)
