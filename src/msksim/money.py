"""Money: the envelope, contract years, the week's payments and each provider's P&L.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .contracts import COMMISSIONER, ContractYearState
from .outcomes import YearOutcomes
from .timeline import WEEKS_PER_YEAR


class MoneyMixin:
    """The payment rule's money and the providers' P&L for `MSKModel`."""

    def _weighted_adults(self) -> float:
        p = self.pop
        alive = p.alive()
        w = np.asarray(self.cfg.contract.envelope_age_weights)
        return float(w[p.age_band[alive]].sum())

    def _start_contract(self) -> None:
        self.rule = self.contract_rule
        self._contract_start_weighted_adults = self._weighted_adults()
        # where the outcome measures stand, and how many operations a year feed them, from the
        # warm-up; without one, the middle of each target range and ~1 per 1,000 adults a year
        warm = self.cfg.run.warmup_weeks
        seen = self._year_outcomes.summary()
        cobic = self.cfg.contract.cobic
        mids = {m.measure: 0.5 * (m.floor + m.target) for m in cobic.outcome_measures} \
            if cobic else {}
        baseline = {}
        for measure, ops in self._operations_by_measure.items():
            per_year = ops * WEEKS_PER_YEAR / warm if warm else len(self.pop.alive()) / 1000.0
            mean = seen.get(measure, float("nan"))
            if not np.isfinite(mean):
                mean = mids.get(measure, float("nan"))
            baseline[measure] = (mean, max(per_year, 1.0))
        self.rule.set_outcome_baseline(baseline)

    def envelope_gbp(self, year: int) -> float:
        """Baseline spend × demographic growth (age-weighted) × (1 + inflation − efficiency)^y."""
        cobic = self.cfg.contract.cobic
        base = cobic.baseline_spend_gbp_per_year if cobic else 0.0
        infl = (cobic.inflation_per_year - cobic.efficiency_per_year) if cobic else 0.0
        demog = self._weighted_adults() / max(self._contract_start_weighted_adults, 1e-9)
        return base * self.cfg.run.scale * demog * (1.0 + infl) ** year

    def _start_contract_year(self, w: int) -> None:
        """A new year of the rule in force (warm-up years count as year 0 of the status quo)."""
        year = max(w // WEEKS_PER_YEAR, 0)
        state = ContractYearState(year=year, envelope_gbp=self.envelope_gbp(year),
                                  adults_at_start=len(self.pop.alive()))
        self.rule.start_year(state)
        self._year = state
        if w >= 0:
            self._year_outcomes = YearOutcomes()
        self._year_within_18 = []

    def _payments(self, w: int) -> None:
        ledger = self.ledger if w >= 0 else self._warmup_ledger
        start = len(ledger.rows)
        n_adults = int(self._adults_by_imd.sum())
        self.rule.weekly_payments(w, self._counts, n_adults, ledger)
        self._account(ledger.rows[start:], w)

    def _account(self, rows: list, w: int, costs: bool = True) -> None:
        """Providers' P&L: receipts, payments made and (weekly) fixed and marginal costs."""
        spend = 0.0
        income = dict.fromkeys(self.provider_keys, 0.0)
        paid = dict.fromkeys(self.provider_keys, 0.0)
        for _, payer, payee, _, _, amount in rows:
            if payer == COMMISSIONER:
                spend += amount
            else:
                paid[payer] += amount
            income[payee] += amount
        for i, key in enumerate(self.provider_keys):
            prov = self.providers[key]
            cost = 0.0
            if costs:
                cost = prov.fixed_cost_gbp_per_week * self.cfg.run.scale + float(
                    (self._counts[i] * self.activities.price_gbp).sum()
                    * self.rule.cost_ratio[key])
            if w >= 0:
                prov.income_gbp += income[key]
                prov.cost_gbp += cost
                prov.paid_out_gbp += paid[key]
            self.recorder.add("provider_income_gbp", income[key], provider=key)
            self.recorder.add("provider_cost_gbp", cost, provider=key)
            self.recorder.add("provider_paid_out_gbp", paid[key], provider=key)
        self.recorder.add("commissioner_spend_gbp", spend)
        if costs and self._year is not None:
            self.recorder.add("envelope_gbp", self._year.envelope_gbp / WEEKS_PER_YEAR)

    def _end_contract_year(self, w: int) -> None:
        outcomes = self._year_outcomes.summary()
        outcomes["within_18_weeks"] = (float(np.mean(self._year_within_18))
                                       if self._year_within_18 else float("nan"))
        start = len(self.ledger.rows)
        achieved = self.rule.year_end_payments(w, outcomes, self.ledger)
        self._account(self.ledger.rows[start:], w, costs=False)
        self.year_results.append({"year": w // WEEKS_PER_YEAR, "envelope_gbp": self._year
                                  .envelope_gbp, **outcomes,
                                  **{f"score_{k}": v for k, v in achieved.items()}})
