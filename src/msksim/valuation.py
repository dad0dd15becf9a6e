"""What each option is worth: the patient's expected gain, the decider's margin under the
active payment rule, friction and waits, combined by the net-value rule (`decisions.py`).

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .config import SPECIALTIES
from .decisions import logit_choice, net_value, option_uniforms
from .pathway import COMMUNITY, HUB, KINDS, OUTPATIENT, THEATRE
from .population import State
from .timeline import EXPECTED_FOLLOW_UPS_PER_FIRST


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

    def _service_benefit(self, slots: np.ndarray, s: int,
                         surgical_share: float) -> np.ndarray:
        """Expected QALY gain of sending these people to service s, as the referrer sees it."""
        c = self.pop.condition[slots]
        sev = self._severity(slots)
        kind = self.pathway.kind[s]
        if kind == HUB:
            return self.cond.benefit_hub[c] * sev
        if kind == COMMUNITY:
            return self.cond.benefit_community[c] * sev
        ok = self.cond.specialty[c] == SPECIALTIES.index(self.pathway.specialty[s])
        # a referrer counts the operation only where a surgeon would offer it
        list_friction = self.cfg.behaviour.outpatient_outcome.friction_qaly.get("list", 0.0)
        surgical = np.maximum(self._surgical_benefit(slots) - list_friction, 0.0)
        b = self.cond.benefit_specialist[c] * sev + surgical_share * surgical
        return np.where(ok, b, -np.inf)

    def _expected_wait_weeks(self, s: int) -> float:
        """The wait a referrer would be quoted: list size over weekly first capacity."""
        cap = self._capacity["first"][s] if self.pathway.kind[s] != THEATRE else 0.0
        if cap < 1e-6:  # no capacity to speak of: quote the longest wait
            return 104.0
        return min(len(self._queue(s, State.WAITING_FIRST, None)) / cap, 104.0)

    def _expected_theatre_wait_weeks(self, t: int) -> float:
        """A theatre list's length in weeks of its sessions (what a patient would be told)."""
        q = self._queue(t, State.WAITING_SURGERY, None)
        if len(q) == 0:
            return 0.0
        cap = self._capacity["sessions"][t]
        if cap < 1e-6:
            return 104.0
        use = self.proc.session_share[self.cond.procedure[self.pop.condition[q]]].sum()
        return float(min(use / cap, 104.0))

    def _referral_margin(self, decider: str, s: int) -> float:
        """The decider's margin from one referral to service s under the active rule."""
        performer = self.pathway.provider[s]
        kind = self.pathway.kind[s]
        r = self.rule
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
        for j, s in enumerate(succ, start=1):
            name = self.pathway.names[s]
            benefit[:, j] = self._service_benefit(slots, s, dcfg.surgical_benefit_share)
            margin[:, j] = self._referral_margin(decider, s)
            fr = dcfg.friction_qaly.get(name, dcfg.friction_qaly.get(KINDS[self.pathway.kind[s]],
                                                                      0.0))
            scfg = self.cfg.services[name]
            friction[:, j] = (fr + scfg.travel_friction_qaly
                              + beh.wait_disutility_qaly_per_week * self._expected_wait_weeks(s))
            if shift is not None:
                friction[:, j] -= shift * dcfg.logit_scale_qaly
        value = net_value(benefit, margin, friction, beh.w_benefit, beh.w_money_qaly_per_gbp)
        u = option_uniforms(self.streams[f"decide/{decision}"], slots, w, value.shape[1])
        return logit_choice(value, u, dcfg.logit_scale_qaly), np.asarray(succ, dtype=np.int64)
