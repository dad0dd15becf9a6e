"""The net-value rule and the logit choice every decision point uses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msksim.decisions import (
    _shift_terms,
    _shift_terms_reference,
    choice_probabilities,
    choice_probabilities_reference,
    inclusive_value,
    inclusive_value_reference,
    logit_choice,
    logit_choice_reference,
    net_value,
    shift_gradient,
    shift_gradient_rows,
    shift_gradients,
    shift_gradients_by_margin,
)


def _uniforms(n: int, k: int, seed: int = 0) -> np.ndarray:
    """One uniform per person and option, strictly inside (0, 1)."""
    return np.random.default_rng(seed).uniform(np.nextafter(0, 1), 1.0, (n, k))


def test_net_value_formula():
    b = np.array([[0.1, 0.2]])
    m = np.array([[1000.0, -500.0]])
    f = np.array([[0.01, 0.0]])
    v = net_value(b, m, f, w_benefit=2.0, w_money_qaly_per_gbp=1e-5)
    np.testing.assert_allclose(v, [[0.2 + 0.01 - 0.01, 0.4 - 0.005]])


@pytest.mark.parametrize("scale", [0.01, 0.02, 0.1])
def test_frequencies_match_probabilities_same_row(scale):
    n = 200_000
    row = np.array([0.0, 0.01, -0.02, 0.005, 0.012])
    value = np.tile(row, (n, 1))
    choice = logit_choice(value, _uniforms(n, len(row), 1), scale)
    freq = np.bincount(choice, minlength=len(row)) / n
    p = choice_probabilities(row[None, :], scale)[0]
    np.testing.assert_allclose(p.sum(), 1.0)
    np.testing.assert_allclose(freq, p, atol=0.005)


def test_frequencies_match_probabilities_varied_rows():
    n = 200_000
    rng = np.random.default_rng(3)
    value = rng.normal(0.0, 0.03, (n, 4))
    choice = logit_choice(value, _uniforms(n, 4, 2), 0.02)
    p = choice_probabilities(value, 0.02)
    freq = np.bincount(choice, minlength=4) / n
    np.testing.assert_allclose(freq, p.mean(axis=0), atol=0.005)


def test_large_values_do_not_overflow():
    value = np.array([[1e6, 1e6 + 0.02, 1e6 - 1.0]] * 50_000)
    choice = logit_choice(value, _uniforms(50_000, 3, 4), 0.02)
    p = choice_probabilities(value[:1], 0.02)[0]
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(np.bincount(choice, minlength=3) / 50_000, p, atol=0.01)


@pytest.mark.parametrize("blocked", [[0], [1], [2], [3], [0, 3], [1, 2], [0, 1, 2]])
def test_minus_inf_never_chosen(blocked):
    n = 100_000
    rng = np.random.default_rng(5)
    value = rng.normal(0.0, 0.05, (n, 4))
    value[:, blocked] = -np.inf
    u = _uniforms(n, 4, 6)
    # the extremes of the uniform, too
    u[:4, :] = np.array([np.nextafter(0, 1), 1e-300, np.nextafter(1, 0), 1.0 - 1e-12])[:, None]
    choice = logit_choice(value, u, 0.02)
    assert not np.isin(choice, blocked).any()
    assert np.all((choice >= 0) & (choice < 4))
    p = choice_probabilities(value, 0.02)
    assert np.all(p[:, blocked] == 0)


def test_empty_input():
    assert logit_choice(np.zeros((0, 3)), np.zeros((0, 3)), 0.02).shape == (0,)


@pytest.mark.parametrize("n_options,raised", [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)])
def test_raising_an_option_only_moves_people_into_it(n_options, raised):
    """Coupling: same uniforms, one option's value raised -> the only switches are INTO it.

    Nobody may switch between two other options (that would add noise, not signal, to a
    comparison of two contracts run with common random numbers).
    """
    n, delta = 50_000, 0.01
    rng = np.random.default_rng(100 + n_options)
    value = rng.normal(0.0, 0.02, (n, n_options))
    u = _uniforms(n, n_options, 7)
    before = logit_choice(value, u, 0.02)
    higher = value.copy()
    higher[:, raised] += delta
    after = logit_choice(higher, u, 0.02)
    moved = before != after
    assert moved.any(), "raising an option should win it some people"
    assert np.all(after[moved] == raised), (
        f"{int((moved & (after != raised)).sum())} of {n} people switched between options "
        f"other than the raised option {raised}")
    # and nobody who chose the raised option leaves it
    assert np.all(after[before == raised] == raised)


def test_one_uniform_per_option_is_required():
    with pytest.raises(ValueError, match="one uniform per option"):
        logit_choice(np.zeros((5, 3)), np.full(5, 0.5), 0.02)


def test_batched_gradients_equal_one_organisation_at_a_time():
    """The clinics and the GP-support lever judge one batch of decisions for several
    organisations at once; each must get what it would have got alone."""
    rng = np.random.default_rng(7)
    value = rng.normal(scale=0.05, size=(60, 4))
    value[5, 3] = -np.inf  # an option someone cannot take
    orgs = rng.normal(scale=0.05, size=(3, 60, 4))
    orgs[:, 5, 3] = -np.inf
    alone = [shift_gradient(value, o, 0.02, [1, 3]) for o in orgs]
    np.testing.assert_allclose(shift_gradients(value, orgs, 0.02, [1, 3]), alone, rtol=1e-12)
    rows = shift_gradient_rows(value, orgs[0], 0.02, [2])
    assert rows.shape == (60,)
    assert rows.sum() == pytest.approx(shift_gradient(value, orgs[0], 0.02, [2]), rel=1e-12)
    assert shift_gradient_rows(value[:0], orgs[0][:0], 0.02, [2]).shape == (0,)


def test_gradients_by_margin_equal_the_full_calculation():
    """GP-support learning: providers' views of GP decisions differ only by each provider's
    margin per option; the shortcut must give what judging every provider in full gives."""
    rng = np.random.default_rng(11)
    value = rng.normal(scale=0.05, size=(80, 5))
    value[3, 2] = value[9, 4] = -np.inf
    base = rng.normal(scale=0.05, size=(80, 5))
    base[3, 2] = base[9, 4] = -np.inf
    margins = rng.normal(scale=300.0, size=(4, 5))
    w_money = 1.0 / 20_000
    full = shift_gradients(value, base[None] + w_money * margins[:, None, :], 0.02, [1, 2, 4])
    np.testing.assert_allclose(
        shift_gradients_by_margin(value, base, margins, w_money, 0.02, [1, 2, 4]), full,
        rtol=1e-9, atol=1e-12)
    assert shift_gradients_by_margin(value[:0], base[:0], margins, w_money, 0.02,
                                     [1]).shape == (4,)


@settings(max_examples=200)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 40), options=st.integers(1, 20),
       spread=st.sampled_from([1e-3, 0.05, 1.0, 300.0]), blocked=st.floats(0.0, 0.6),
       scale=st.sampled_from([0.01, 0.02, 0.05, 1.0]))
def test_compiled_decision_steps_equal_numpy_bit_for_bit(seed, rows, options, spread, blocked,
                                                         scale):
    """The compiled row-wise steps (kernels.py) against the plain numpy versions they replaced:
    equal bit for bit, including rows with -inf options and rows of 8 or more options (where
    numpy adds pairwise)."""
    rng = np.random.default_rng(seed)
    value = rng.normal(0.0, spread, (rows, options))
    if options > 1:
        value[rng.uniform(size=value.shape) < blocked] = -np.inf
    value[:, rng.integers(options)] = rng.normal(0.0, spread, rows)  # some option open
    org = value + rng.normal(0.0, spread / 4, value.shape)
    u = _uniforms(rows, options, seed % 1000)
    cols = sorted(set(rng.integers(0, options, size=3).tolist()))
    same = np.testing.assert_array_equal
    same(choice_probabilities(value, scale), choice_probabilities_reference(value, scale))
    same(logit_choice(value, u, scale), logit_choice_reference(value, u, scale))
    p = choice_probabilities_reference(value, scale)
    same(_shift_terms(value, org, scale, cols, p), _shift_terms_reference(value, org, cols, p))
    if rows:
        same(inclusive_value(value, scale), inclusive_value_reference(value, scale))


@pytest.mark.parametrize("options", [0, 1, 8, 9, 17, 129, 200])
@pytest.mark.parametrize("layout", ["C", "F", "float32"])
def test_decision_steps_equal_numpy_for_any_layout_and_width(options, layout):
    """Inputs the compiled steps do not take as they are (Fortran order, float32, no options,
    more than 128) go to numpy, so results never depend on which path ran."""
    rng = np.random.default_rng(options)
    value = rng.normal(0.0, 0.05, (30, options))
    value = {"C": value, "F": np.asfortranarray(value), "float32": value.astype(np.float32)}[
        layout]
    u = _uniforms(30, options, 5)
    if options == 0:
        with pytest.raises(ValueError):
            choice_probabilities_reference(value, 0.02)
        with pytest.raises(ValueError):
            choice_probabilities(value, 0.02)
        return
    same = np.testing.assert_array_equal
    same(choice_probabilities(value, 0.02), choice_probabilities_reference(value, 0.02))
    same(logit_choice(value, u, 0.02), logit_choice_reference(value, u, 0.02))
    same(inclusive_value(value, 0.02), inclusive_value_reference(value, 0.02))
    p = choice_probabilities_reference(value, 0.02)
    org = value + 0.01
    same(_shift_terms(value, org, 0.02, [0], p), _shift_terms_reference(value, org, [0], p))
