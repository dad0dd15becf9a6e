"""What each option is worth: the patient's expected gain, the decider's margin under the
active payment rule, friction and waits, combined by the net-value rule (`decisions.py`).

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .adaptation import L
from .config import GP_NODE, SPECIALTIES
from .decisions import (
    choice_probabilities,
    logit_choice,
    net_value,
    option_uniforms,
    shift_gradient,
    shift_gradients_by_margin,
)
from .pathway import COMMUNITY, HUB, KINDS, OUTPATIENT, THEATRE
from .population import State
from .timeline import EXPECTED_FOLLOW_UPS_PER_FIRST, WEEKS_PER_YEAR


class ValuationMixin:
    """Benefits, margins and the routing choice for `MSKModel`."""

    def _severity(self, slots: np.ndarray) -> np.ndarray:
        """How much worse than a typical new episode (1 = typical), from EQ-5D below the norm."""
        p, c = self.pop, self.pop.condition[slots]
        typical = np.maximum(p.eq5d_norm[slots] - self.cond.eq5d_onset_mean[c], 0.05)
        return np.clip((p.eq5d_norm[slots] - p.eq5d[slots]) / typical, 0.0, 4.0)

    def _surgical_benefit(self, slots: np.ndarray) -> np.ndarray:
        """Expected QALY gain from the condition's operation (-inf where there is none)."""
        p = self.pop
        if len(self.proc.names) == 0:
            return np.full(len(slots), -np.inf)
        proc = self.cond.procedure[p.condition[slots]]
        has = proc >= 0
        pr = np.maximum(proc, 0)
        gain = ((self.proc.post_eq5d_mean[pr] - p.eq5d[slots]) * self.proc.horizon_years[pr]
                - self.proc.offer_threshold_qaly[pr])
        return np.where(has, gain, -np.inf)

    def _service_benefit(self, slots: np.ndarray, s: int, surgical_share: float,
                         known: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Expected QALY gain of sending these people to service s, as the referrer sees it
        (`known`: the people's condition, severity and surgical gain, when the caller weighs
        several services for the same people and works them out once)."""
        if known is None:
            known = self._referral_facts(slots)
        c, sev = known["condition"], known["severity"]
        kind = self.pathway.kind[s]
        if kind == HUB:
            return self.cond.benefit_hub[c] * sev
        if kind == COMMUNITY:
            return self.cond.benefit_community[c] * sev
        ok = self.cond.specialty[c] == SPECIALTIES.index(self.pathway.specialty[s])
        b = self.cond.benefit_specialist[c] * sev + surgical_share * known["surgical"]
        return np.where(ok, b, -np.inf)

    def _referral_facts(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """What a referrer weighs about each person, whichever service it considers."""
        # a referrer counts the operation only where a surgeon would offer it
        list_friction = self.cfg.behaviour.outpatient_outcome.friction_qaly.get("list", 0.0)
        return {"condition": self.pop.condition[slots], "severity": self._severity(slots),
                "surgical": np.maximum(self._surgical_benefit(slots) - list_friction, 0.0)}

    def _expected_wait_weeks(self, s: int) -> float:
        """The wait a referrer would be quoted: list size over weekly first capacity."""
        cap = (self._capacity["first"][s] * self._scenario_factor[s]
               if self.pathway.kind[s] != THEATRE else 0.0)
        if cap < 1e-6:  # no capacity to speak of: quote the longest wait
            return 104.0
        return min(self._queue_length(s, State.WAITING_FIRST) / cap, 104.0)

    def _referral_margin(self, decider: str, s: int) -> float:
        """The decider's margin from one referral to service s under the active rule."""
        performer = self.pathway.provider[s]
        kind = self.pathway.kind[s]
        r = self._crules["triage"]
        if kind == OUTPATIENT:
            spec = self.pathway.specialty[s]
            return (r.unit_margin_gbp(decider, performer, self._act_index[f"first:{spec}"])
                    + EXPECTED_FOLLOW_UPS_PER_FIRST * r.unit_margin_gbp(
                        decider, performer, self._act_index[f"follow_up:{spec}"]))
        if kind == COMMUNITY:
            n = self.cfg.services[self.pathway.names[s]].contacts_per_course_mean
            return (r.unit_margin_gbp(decider, performer, self._act_index["community_first"])
                    + (n - 1) * r.unit_margin_gbp(decider, performer,
                                                  self._act_index["community_contact"]))
        return r.unit_margin_gbp(decider, performer, self._act_index["hub_triage"])

    def _route(self, slots: np.ndarray, decider: str, node: str, decision: str, w: int,
               stay_label: str, stay_benefit: np.ndarray, shift: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
        """Choose for each person: stay (option 0) or one of `node`'s successors.

        Returns (choice, successor indices) where choice 0 = stay, j = successors[j - 1].
        A provider deciding applies its community-first policy (a higher bar for specialist
        clinics); GPs deciding feel their practice's referral habit (`shift`, in logit-scale
        units) and, in practices a provider supports, a higher bar for hub and specialist
        referrals. Each provider learns from these decisions how its levers would pay.
        """
        beh = self.cfg.behaviour
        dcfg = getattr(beh, decision)
        succ = [s for s in self.pathway.successors(node) if self.pathway.kind[s] != THEATRE]
        k = len(slots)
        benefit = np.empty((k, len(succ) + 1))
        margin = np.zeros((k, len(succ) + 1))
        friction = np.zeros((k, len(succ) + 1))
        benefit[:, 0] = stay_benefit
        friction[:, 0] = dcfg.friction_qaly.get(stay_label, 0.0)
        kinds = np.array([-1] + [self.pathway.kind[s] for s in succ])
        known = self._referral_facts(slots)
        for j, s in enumerate(succ, start=1):
            name = self.pathway.names[s]
            benefit[:, j] = self._service_benefit(slots, s, dcfg.surgical_benefit_share, known)
            margin[:, j] = self._referral_margin(decider, s) if decider != GP_NODE else 0.0
            fr = dcfg.friction_qaly.get(name, dcfg.friction_qaly.get(KINDS[self.pathway.kind[s]],
                                                                      0.0))
            scfg = self.cfg.services[name]
            friction[:, j] = (fr + scfg.travel_friction_qaly
                              + beh.wait_disutility_qaly_per_week * self._expected_wait_weeks(s))
            if shift is not None:
                friction[:, j] -= shift * dcfg.logit_scale_qaly
        specialist = np.flatnonzero(kinds == OUTPATIENT)
        policy = np.zeros_like(friction)
        if decider in self.providers:
            policy[:, specialist] = self.lever(decider, "community_first_qaly")
        elif decider == GP_NODE:
            support = min(1.0, float(self.levers[:, L["gp_support_share"]].sum()))
            supported = self._practice_u[self.pop.practice[slots]] < support
            gated = np.flatnonzero((kinds == OUTPATIENT) | (kinds == HUB))
            policy[np.ix_(supported, gated)] = beh.gp_support.friction_qaly
        value = net_value(benefit, margin, friction + policy, beh.w_benefit,
                          beh.w_money_qaly_per_gbp)
        self._learn_from_route(slots, decider, succ, kinds, value, benefit, friction, margin,
                               dcfg.logit_scale_qaly)
        u = option_uniforms(self.streams[f"decide/{decision}"], slots, w, value.shape[1])
        return logit_choice(value, u, dcfg.logit_scale_qaly), np.asarray(succ, dtype=np.int64)

    def _gp_support_week_gbp(self) -> float:
        """A week of GP support for every practice in the simulated city (a provider funding
        a share of the practices pays that share of it)."""
        return (self.cfg.behaviour.gp_support.cost_gbp_per_practice_per_year
                * len(self.practices) * self.cfg.run.scale / WEEKS_PER_YEAR)

    def _gp_support_costs_gbp(self) -> np.ndarray:
        """What each provider pays this week for the GP support it funds: its share of the
        city's practices, or, when the shares add up to more than every practice, its part of
        supporting them all (support never reaches more than every practice)."""
        shares = self.levers[:, L["gp_support_share"]]
        return shares / max(1.0, float(shares.sum())) * self._gp_support_week_gbp()

    def _org_value(self, benefit: np.ndarray, friction: np.ndarray,
                   margin: np.ndarray) -> np.ndarray:
        """An organisation's view of options: its patients' gain and its own margin."""
        a = self.cfg.behaviour.adaptation
        return net_value(benefit, margin, friction, a.w_benefit, a.w_money_qaly_per_gbp)

    def _learn_from_route(self, slots: np.ndarray, decider: str, succ: list[int],
                          kinds: np.ndarray, value: np.ndarray, benefit: np.ndarray,
                          friction: np.ndarray, margin: np.ndarray, scale: float) -> None:
        """Evidence for the routing levers: community-first (the decider's own) and GP
        support (every provider's, from GP decisions), and what a GP consultation is worth to
        each provider (for its self-management lever)."""
        if len(slots) == 0:
            return
        specialist = np.flatnonzero(kinds == OUTPATIENT)
        if decider in self.providers:
            org = self._org_value(benefit, friction, margin)
            self._evidence(decider, "community_first_qaly",
                           -shift_gradient(value, org, scale, specialist))
            return
        if decider != GP_NODE:
            return
        gs = self.cfg.behaviour.gp_support
        gated = np.flatnonzero((kinds == OUTPATIENT) | (kinds == HUB))
        a = self.cfg.behaviour.adaptation
        weekly_cost = self._gp_support_week_gbp()
        # every provider's margin from each referral (the same for every patient), then all
        # providers' view of these decisions at once: (providers, people, options)
        m = np.zeros((len(self.provider_keys), margin.shape[1]))
        for i, key in enumerate(self.provider_keys):
            m[i, 1:] = [self._referral_margin(key, s) for s in succ]
        p_choice = choice_probabilities(value, scale)
        org_base = self._org_value(benefit, friction, np.zeros_like(margin))  # margins apart
        g = -gs.friction_qaly * shift_gradients_by_margin(
            value, org_base, m, a.w_money_qaly_per_gbp, scale, gated, p=p_choice)
        per_consult = m @ p_choice.mean(axis=0)
        for i in range(len(self.provider_keys)):
            self._evidence(i, "gp_support_share", g[i] - a.w_money_qaly_per_gbp * weekly_cost)
            self._margin_per_consult[i] = float(per_consult[i])
