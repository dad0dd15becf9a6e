"""Outcomes of surgery: EQ-5D and Oxford scores six months on, and the year's PROMs for the
outcome incentive.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .conditions import oxford_score


class OutcomesMixin:
    """Surgical outcomes for `MSKModel`."""

    def _outcomes(self, due: np.ndarray, w: int) -> None:
        """Six months after surgery (`due`: those recovering whose outcome is due this week):
        PROMs are measured; near-full recoveries end the episode."""
        p = self.pop
        if len(due) == 0:
            return
        c = p.condition[due]
        pr = self.cond.procedure[c]
        pre = p.eq5d_before_surgery[due]
        post = p.eq5d_after_surgery[due]
        gain = post - pre
        joint = self.cond.joint[c]
        ox_gain = (oxford_score(post, joint, p.oxford_offset[due])
                   - oxford_score(pre, joint, p.oxford_offset[due]))
        for j, n in enumerate(self.proc.names):
            sel = pr == j
            if sel.any():
                self.recorder.add("new_outcomes", int(sel.sum()), procedure=n)
                self.recorder.add("sum_eq5d_gain", float(gain[sel].sum()), procedure=n)
                self.recorder.add("new_improved", int((gain[sel] > 0).sum()), procedure=n)
                if (joint[sel] >= 0).any():
                    self.recorder.add("sum_oxford_gain", float(ox_gain[sel].sum()), procedure=n)
        self._year_outcomes.add(gain, ox_gain, joint)
        # the episode ends for those back near full health for their age; the others carry on
        # with their post-operative health, so what surgery did not fix still counts as loss
        good = post >= p.eq5d_norm[due] - 0.1
        self._end_episode(due[good], w)
        poor = due[~good]
        p.eq5d[poor] = np.minimum(post[~good], p.eq5d_norm[poor])
        self._to_self_care(poor, w)


class YearOutcomes:
    """PROMs measured in one contract year, for the outcome incentive."""

    def __init__(self):
        self.eq5d: list[np.ndarray] = []
        self.hip: list[np.ndarray] = []
        self.knee: list[np.ndarray] = []

    def add(self, gain: np.ndarray, ox_gain: np.ndarray, joint: np.ndarray) -> None:
        self.eq5d.append(gain)
        self.hip.append(ox_gain[joint == 0])
        self.knee.append(ox_gain[joint == 1])

    def summary(self) -> dict[str, float]:
        out = {}
        for key, parts in (("eq5d_gain", self.eq5d), ("oxford_hip_gain", self.hip),
                           ("oxford_knee_gain", self.knee)):
            x = np.concatenate(parts) if parts else np.zeros(0)
            out[key] = float(x.mean()) if len(x) else float("nan")
            out[f"n_{key}"] = float(len(x))
        return out
