"""Money: the envelope, contract years, the week's payments and each provider's P&L.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .contracts import COMMISSIONER, ContractYearState
from .outcomes import YearOutcomes
from .timeline import WEEKS_PER_YEAR

#: outcome measures that are mean gains per patient (the ones a provider could over-report)
GAIN_MEASURES = ("eq5d_gain", "oxford_hip_gain", "oxford_knee_gain")


class MoneyMixin:
    """The payment rule's money and the providers' P&L for `MSKModel`."""

    def _weighted_adults(self) -> float:
        p = self.pop
        alive = p.alive()
        w = np.asarray(self.cfg.contract.envelope_age_weights)
        return float(w[p.age_band[alive]].sum())

    def _status_quo_income(self) -> dict[str, float]:
        """Each provider's income a year under the status quo: the warm-up's last year."""
        weeks = min(self.cfg.run.warmup_weeks, WEEKS_PER_YEAR)
        income = dict.fromkeys(self.provider_keys, 0.0)
        for week, _, payee, _, _, amount in self._warmup_ledger.rows:
            if week >= -weeks and payee in income:
                income[payee] += amount
        return {k: v * WEEKS_PER_YEAR / max(weeks, 1) for k, v in income.items()}

    def _start_contract(self) -> None:
        self.rule = self.contract_rule
        self._crules = {ch: self._contract_rules[name] for ch, name in self.channels.items()}
        status_quo = self._status_quo_income()
        for r in self._contract_rules.values():
            r.set_status_quo_income(status_quo)
        self._contract_start_weighted_adults = self._weighted_adults()
        # where the outcome measures stand, and how many operations a year feed them, from the
        # warm-up; without one, the middle of each target range and ~1 per 1,000 adults a year
        warm = self.cfg.run.warmup_weeks
        seen = self._year_outcomes.summary()
        measures = (self.cfg.contract.cobic.outcome_measures if self.cfg.contract.cobic
                    else self.cfg.contract.blended.outcome_measures)
        mids = {m.measure: 0.5 * (m.floor + m.target) for m in measures}
        baseline = {}
        for measure, ops in self._operations_by_measure.items():
            per_year = ops * WEEKS_PER_YEAR / warm if warm else len(self.pop.alive()) / 1000.0
            mean = seen.get(measure, float("nan"))
            if not np.isfinite(mean):
                mean = mids.get(measure, float("nan"))
            baseline[measure] = (mean, max(per_year, 1.0))
        for r in self._contract_rules.values():
            r.set_outcome_baseline(baseline)

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
        for r in self._rules_in_force():
            r.start_year(state)
        self._year = state
        if w >= 0:
            self._year_outcomes = YearOutcomes()
        self._year_within_18 = []

    def _rules_in_force(self) -> list:
        """The paying rule and every rule a decision channel sees."""
        return list(self._contract_rules.values()) if self.week >= 0 else [self.rule]

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
                    * self.rule.cost_ratio[key]) + float(self._lever_cost[i])
                self.recorder.add("provider_lever_cost_gbp", float(self._lever_cost[i]),
                                  provider=key)
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
        # measure gaming: the provider reports gains above the true ones (true ones are kept)
        inflate = 1.0 + self.cfg.behaviour.gaming.reported_outcome_inflation
        reported = {k: (v * inflate if k in GAIN_MEASURES else v) for k, v in outcomes.items()}
        start = len(self.ledger.rows)
        achieved = self.rule.year_end_payments(w, reported, self.ledger)
        for r in self._contract_rules.values():  # every channel's rule sees the new baseline
            if r is not self.rule:
                r.set_outcome_baseline({**r.outcome_baseline, **{
                    m: (reported[m], reported[f"n_{m}"]) for m in GAIN_MEASURES
                    if reported.get(f"n_{m}", 0) > 0}})
        self._account(self.ledger.rows[start:], w, costs=False)
        self.year_results.append({"year": w // WEEKS_PER_YEAR, "envelope_gbp": self._year
                                  .envelope_gbp, **outcomes,
                                  **{f"reported_{m}": reported[m] for m in GAIN_MEASURES},
                                  **{f"score_{k}": v for k, v in achieved.items()}})
