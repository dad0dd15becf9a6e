"""The one decision rule every decision point uses (the design's net-value rule).

    value(option) = w_benefit × expected health gain for this patient (QALYs)
                  + w_money × the decider's own margin from the option under the active contract
                  − friction (effort, reluctance, travel, expected wait)

and a logit choice on the patient's own uniforms (one per option). The contract enters only
through the margin, which the active payment rule computes; no decision code asks which contract
is in force.
"""

from __future__ import annotations

import numpy as np


def net_value(benefit_qaly: np.ndarray, margin_gbp: np.ndarray, friction_qaly: np.ndarray,
              w_benefit: float, w_money_qaly_per_gbp: float) -> np.ndarray:
    """Value of each option (rows: people, columns: options) in QALY-equivalents."""
    return w_benefit * benefit_qaly + w_money_qaly_per_gbp * margin_gbp - friction_qaly


def logit_choice(value: np.ndarray, u: np.ndarray, scale_qaly: float) -> np.ndarray:
    """Pick one option per row with probability ∝ exp(value / scale) (Gumbel-max).

    `u` holds one uniform per person and option (same shape as `value`): each option's value
    gets its own Gumbel noise, scale × −log(−log u), and the best noisy option is chosen. This
    is exactly the multinomial logit, and it keeps runs coupled: raising one option's value can
    only move people *into* that option, never between two others. Options with value -inf are
    never chosen.
    """
    if value.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if u.shape != value.shape:
        raise ValueError(f"need one uniform per option: u has shape {u.shape}, "
                         f"value {value.shape}")
    gumbel = -np.log(-np.log(u))
    with np.errstate(invalid="ignore"):
        noisy = np.where(np.isneginf(value), -np.inf, value + scale_qaly * gumbel)
    return np.argmax(noisy, axis=1)


def option_uniforms(stream, slots: np.ndarray, week: int, n_options: int) -> np.ndarray:
    """One uniform per person and option from a decision's stream (draw j for option j)."""
    return np.stack([stream.uniform(slots, week, draw=j) for j in range(n_options)], axis=1)


def choice_probabilities(value: np.ndarray, scale_qaly: float) -> np.ndarray:
    z = value / scale_qaly
    z = z - np.max(z, axis=1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=1, keepdims=True)
