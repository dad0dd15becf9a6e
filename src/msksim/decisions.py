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

from . import kernels


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
    if not _compiled_fits(value, u):
        return logit_choice_reference(value, u, scale_qaly)
    gumbel = np.log(u)  # finite below: u is strictly inside (0, 1)
    np.negative(gumbel, out=gumbel)
    np.log(gumbel, out=gumbel)
    np.negative(gumbel, out=gumbel)
    return kernels.noisy_argmax(value, float(scale_qaly), gumbel)  # -inf stays -inf


def logit_choice_reference(value: np.ndarray, u: np.ndarray, scale_qaly: float) -> np.ndarray:
    """`logit_choice` in plain numpy (the compiled version is tested against it)."""
    if value.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    gumbel = -np.log(-np.log(u))
    return np.argmax(value + scale_qaly * gumbel, axis=1)


def option_uniforms(stream, slots: np.ndarray, week: int, n_options: int) -> np.ndarray:
    """One uniform per person and option from a decision's stream (draw j for option j)."""
    return stream.uniforms(slots, week, n_options)


def choice_probabilities(value: np.ndarray, scale_qaly: float) -> np.ndarray:
    """The logit's choice probabilities (rows: people, columns: options; -inf = never)."""
    if not _compiled_fits(value):
        return choice_probabilities_reference(value, scale_qaly)
    z = kernels.scaled_from_row_max(value, float(scale_qaly))
    np.exp(z, out=z)
    return kernels.normalise_rows(z)


def choice_probabilities_reference(value: np.ndarray, scale_qaly: float) -> np.ndarray:
    """`choice_probabilities` in plain numpy (any number of leading axes)."""
    z = value / scale_qaly
    z = z - np.max(z, axis=1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=1, keepdims=True)


def shift_gradient(value: np.ndarray, org_value: np.ndarray, scale_qaly: float,
                   options: np.ndarray | list[int]) -> float:
    """How a policy shift on some options changes the organisation's expected value.

    Deciders choose by `value` (which includes the policy in force) plus their own noise, and
    the noise is part of what each choice is worth (the patient's circumstances the decider
    sees and the model does not). If every row's `value` of the columns in `options` rose by
    δ, the organisation, which values options at `org_value` (plus the same noise), would gain
    Σ_rows Σ_{j in options} P_j (D_j − Σ_k P_k D_k) / scale, where D = org_value − value is
    where it and the decider disagree. Where they agree it gains nothing (the decider already
    chooses as it would), so a policy moves only as far as the organisation's interests differ.
    """
    if value.shape[0] == 0:
        return 0.0
    return float(_shift_terms(value, org_value, scale_qaly, options).sum() / scale_qaly)


def shift_gradient_rows(value: np.ndarray, org_value: np.ndarray, scale_qaly: float,
                        options: np.ndarray | list[int]) -> np.ndarray:
    """`shift_gradient`'s terms row by row (to share one batch of decisions among several
    organisations: sum each one's rows)."""
    if value.shape[0] == 0:
        return np.zeros(0)
    return _shift_terms(value, org_value, scale_qaly, options).sum(axis=1) / scale_qaly


def shift_gradients(value: np.ndarray, org_values: np.ndarray, scale_qaly: float,
                    options: np.ndarray | list[int]) -> np.ndarray:
    """`shift_gradient` for several organisations judging the same decisions: `org_values`
    has one (people, options) slice per organisation; one gradient each."""
    if value.shape[0] == 0:
        return np.zeros(org_values.shape[0])
    return _shift_terms(value, org_values, scale_qaly, options).sum(axis=(1, 2)) / scale_qaly


def shift_gradients_by_margin(value: np.ndarray, org_base: np.ndarray, margins: np.ndarray,
                              w_money_qaly_per_gbp: float, scale_qaly: float,
                              options: np.ndarray | list[int],
                              p: np.ndarray | None = None) -> np.ndarray:
    """`shift_gradients` for organisations whose views differ only by their own margin from
    each option, the same for every person: organisation i values option j at
    `org_base[:, j] + w_money × margins[i, j]`. The margins' part of the gradient is linear in
    them, so this costs about what one organisation costs, however many there are. `p`: the
    choice probabilities of `value`, if already known."""
    if value.shape[0] == 0:
        return np.zeros(margins.shape[0])
    if p is None:
        p = choice_probabilities(value, scale_qaly)
    common = _shift_terms(value, org_base, scale_qaly, options, p).sum()
    cols = np.asarray(options, dtype=np.int64)
    # sum over people and the options j of P_j (m_j - sum_k P_k m_k), for each organisation
    p_options = p[:, cols]
    own = margins[:, cols] @ p_options.sum(axis=0) - margins @ (p_options.sum(axis=1) @ p)
    return (common + w_money_qaly_per_gbp * own) / scale_qaly


def _shift_terms(value: np.ndarray, org_value: np.ndarray, scale_qaly: float,
                 options: np.ndarray | list[int], p: np.ndarray | None = None) -> np.ndarray:
    """The terms P_j (D_j - sum_k P_k D_k) for the options in `options`; `org_value` may add
    leading axes (one slice per organisation) to `value`'s (people, options). `p`: the choice
    probabilities of `value`, if already known."""
    if p is None:
        p = choice_probabilities(value, scale_qaly)
    if _compiled_fits(value, org_value, p):
        return kernels.shift_terms(value, org_value, p, np.asarray(options, dtype=np.int64))
    return _shift_terms_reference(value, org_value, options, p)


def _shift_terms_reference(value: np.ndarray, org_value: np.ndarray,
                           options: np.ndarray | list[int], p: np.ndarray) -> np.ndarray:
    """`_shift_terms` in plain numpy (`org_value` may add leading axes)."""
    # (subtracting only where p > 0 spares -inf - -inf, and is cheaper than np.errstate)
    d = np.subtract(org_value, value, out=np.zeros(np.broadcast_shapes(org_value.shape,
                                                                       value.shape)),
                    where=p > 0)
    mean = (p * d).sum(axis=-1, keepdims=True)
    cols = np.asarray(options, dtype=np.int64)
    return p[..., cols] * (d[..., cols] - mean)


def inclusive_value(value: np.ndarray, scale_qaly: float) -> np.ndarray:
    """Each row's expected value of the best option, noise included (scale × log-sum-exp)."""
    if not _compiled_fits(value):
        return inclusive_value_reference(value, scale_qaly)
    top, z = kernels.row_max_and_shifted(value, float(scale_qaly))
    np.exp(z, out=z)
    return top + scale_qaly * np.log(kernels.row_sums(z))


def inclusive_value_reference(value: np.ndarray, scale_qaly: float) -> np.ndarray:
    """`inclusive_value` in plain numpy."""
    top = np.max(value, axis=1, keepdims=True)
    finite = ~np.isneginf(value)
    z = np.subtract(value, top, out=np.full(value.shape, -np.inf), where=finite)
    z /= scale_qaly
    np.exp(z, out=z)
    return top[:, 0] + scale_qaly * np.log(z.sum(axis=1))


def _compiled_fits(*arrays: np.ndarray) -> bool:
    """Whether the compiled row-wise steps give numpy's results bit for bit here: C-ordered
    float64 (people, options) arrays of one shape with 1 to 128 options (numpy adds longer
    rows, and rows of other layouts, in another order)."""
    shape = arrays[0].shape
    return len(shape) == 2 and 0 < shape[1] <= 128 and all(
        a.shape == shape and a.dtype == np.float64 and a.flags.c_contiguous for a in arrays)
