"""The one decision rule every decision point uses (the design's net-value rule).

    value(option) = w_benefit × expected health gain for this patient (QALYs)
                  + w_money × the decider's own margin from the option under the active contract
                  − friction (effort, reluctance, travel, expected wait)

and a logit choice on the patient's own uniform. The contract enters only through the margin,
which the active payment rule computes; no decision code asks which contract is in force.
"""

from __future__ import annotations

import numpy as np


def net_value(benefit_qaly: np.ndarray, margin_gbp: np.ndarray, friction_qaly: np.ndarray,
              w_benefit: float, w_money_qaly_per_gbp: float) -> np.ndarray:
    """Value of each option (rows: people, columns: options) in QALY-equivalents."""
    return w_benefit * benefit_qaly + w_money_qaly_per_gbp * margin_gbp - friction_qaly


def logit_choice(value: np.ndarray, u: np.ndarray, scale_qaly: float) -> np.ndarray:
    """Pick one option per row with probability ∝ exp(value / scale), by inverse transform.

    Options with value -inf are never chosen. Inverse transform on one uniform per person keeps
    runs coupled: a change that moves one option's value only changes the choice of people whose
    uniform falls near the moved boundary.
    """
    if value.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    z = value / scale_qaly
    z = z - np.max(z, axis=1, keepdims=True)
    w = np.exp(z)
    cum = np.cumsum(w, axis=1)
    cum /= cum[:, -1:]
    choice = (cum < u[:, None]).sum(axis=1)
    return np.minimum(choice, value.shape[1] - 1)


def choice_probabilities(value: np.ndarray, scale_qaly: float) -> np.ndarray:
    z = value / scale_qaly
    z = z - np.max(z, axis=1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=1, keepdims=True)
