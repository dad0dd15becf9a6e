"""Provider organisations adapt their policy levers to the contract, quarter by quarter.

Clinicians decide patient by patient (`decisions.net_value`); the organisation sets the policy
they work within: a follow-up policy, a listing threshold, community-first routing, supported
self-management, decision aids, support for GPs, theatre sessions run. Each quarter it asks, for
each lever, whether a step up, a step down or no move is worth most to it, valuing

    w_benefit (organisation) × its patients' expected health gain
  + w_money (organisation) × its own margin under the contract in force (minus what the lever costs)

and chooses with logit noise (bounded rationality, `adaptation.noise_qaly`). The worth of a step
is the derivative of that value with respect to the lever, gathered over the quarter from the
decisions the lever touches (`decisions.shift_gradient`), times the step. Levers that touch none of
an organisation's services gather no evidence and stay put.

Part of `model.MSKModel`; the order in which these run each week is in `MSKModel.step`.
"""

from __future__ import annotations

import numpy as np

from .decisions import logit_choice

LEVERS: tuple[str, ...] = ("follow_up_shift_qaly", "listing_shift_qaly", "community_first_qaly",
                           "self_management_share", "decision_support_share", "gp_support_share",
                           "theatre_sessions_factor")
L = {name: i for i, name in enumerate(LEVERS)}

#: the mechanism (channel) through which each lever carries the contract's incentive
LEVER_CHANNEL = {"follow_up_shift_qaly": "follow_up", "listing_shift_qaly": "listing",
                 "community_first_qaly": "triage", "self_management_share": "triage",
                 "decision_support_share": "decision_support", "gp_support_share": "triage",
                 "theatre_sessions_factor": "capacity"}


class AdaptationMixin:
    """Provider levers and their quarterly update for `MSKModel`."""

    def _init_levers(self) -> None:
        lc = self.cfg.behaviour.adaptation.levers
        specs = [getattr(lc, n) for n in LEVERS]
        n_prov = len(self.provider_keys)
        self.levers = np.tile(np.array([s.initial for s in specs]), (n_prov, 1))
        self._lever_low = np.array([s.low for s in specs])
        self._lever_high = np.array([s.high for s in specs])
        self._lever_step = np.array([s.step for s in specs])
        self._lever_grad = np.zeros_like(self.levers)
        self._lever_seen = np.zeros(self.levers.shape, dtype=bool)
        self.lever_history: list[dict] = []

    def lever(self, provider: str | int, name: str) -> float:
        """A provider's current setting of one lever."""
        i = provider if isinstance(provider, int) else self.provider_keys.index(provider)
        return float(self.levers[i, L[name]])

    def _evidence(self, provider: str | int, name: str, gradient: float) -> None:
        """Add to the quarter's estimate of d(value to the organisation)/d(lever)."""
        i = provider if isinstance(provider, int) else self.provider_keys.index(provider)
        if np.isfinite(gradient):
            self._lever_grad[i, L[name]] += gradient
            self._lever_seen[i, L[name]] = True

    def _adapt(self, w: int) -> None:
        """Quarter's end: each organisation moves each lever it has evidence on one step up,
        one step down, or not at all, by the net-value rule with its own noise."""
        acfg = self.cfg.behaviour.adaptation
        if acfg.enabled:
            step = self._lever_step[None, :]
            gain = (self._lever_grad * step).ravel()
            value = np.stack([-gain, np.zeros_like(gain), gain], axis=1)
            slots = np.arange(value.shape[0], dtype=np.int64)
            u = np.stack([self.streams["adapt/levers"].uniform(slots, w, draw=j)
                          for j in range(3)], axis=1)
            # values add up over patients, so the noise grows with the population simulated
            noise = acfg.noise_qaly * self.cfg.run.scale
            move = (logit_choice(value, u, noise) - 1).reshape(self.levers.shape)
            move = np.where(self._lever_seen, move, 0)
            self.levers = np.clip(self.levers + move * step, self._lever_low[None, :],
                                  self._lever_high[None, :])
            self._apply_session_levers()
        self._lever_grad[:] = 0.0
        self._lever_seen[:] = False

    def _apply_session_levers(self) -> None:
        """Theatre sessions run follow each theatre's owner's sessions lever."""
        f = self.levers[self._svc_provider, L["theatre_sessions_factor"]]
        self._capacity["sessions"] = self._base_sessions * f

    def _record_levers(self, w: int) -> None:
        for i, key in enumerate(self.provider_keys):
            for j, name in enumerate(LEVERS):
                self.recorder.add("lever_value", float(self.levers[i, j]), provider=key,
                                  lever=name)
        if w % self.cfg.behaviour.adaptation.interval_weeks == 0:
            self.lever_history.append({"week": w, **{
                f"{key}.{name}": float(self.levers[i, j])
                for i, key in enumerate(self.provider_keys) for j, name in enumerate(LEVERS)}})
