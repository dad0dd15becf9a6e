"""Common random numbers: a draw depends only on (seed, stream name, slot, week, draw)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs
from scipy import stats

from msksim.rng import MAX_DRAWS, Stream, Streams


def test_slot_uniform_independent_of_other_slots_drawn():
    s = Streams(11)["decide/gp_refer"]
    everyone = s.uniform(np.arange(5000), week=40)
    few = np.array([4321, 7, 0, 2500])
    assert np.array_equal(s.uniform(few, week=40), everyone[few])
    # alone, in a different order, with duplicates and next to slots never drawn before
    assert s.uniform(np.array([7]), week=40)[0] == everyone[7]
    mixed = np.array([999_999, 7, 4321, 7, 123_456_789])
    got = s.uniform(mixed, week=40)
    assert got[1] == everyone[7] and got[3] == everyone[7] and got[2] == everyone[4321]


def test_slot_uniform_independent_of_stream_creation_order():
    a = Streams(5)
    a["x"], a["y"]  # create other streams first
    u1 = a["z"].uniform(np.arange(100), 3)
    u2 = Streams(5)["z"].uniform(np.arange(100), 3)
    assert np.array_equal(u1, u2)


def test_uniforms_strictly_inside_unit_interval_and_uniform():
    s = Stream(2024, "ks")
    u = s.uniform(np.arange(200_000), week=0)
    assert np.all(u > 0.0) and np.all(u < 1.0)
    assert stats.kstest(u, "uniform").pvalue > 0.001
    # across weeks for one slot, too
    weekly = np.array([s.uniform(np.array([17]), week=w)[0] for w in range(-200, 4800)])
    assert np.all((weekly > 0) & (weekly < 1))
    assert stats.kstest(weekly, "uniform").pvalue > 0.001


def test_adjacent_slots_and_weeks_not_correlated():
    s = Stream(3, "corr")
    u = s.uniform(np.arange(100_001), week=1)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02
    v = s.uniform(np.arange(100_001), week=2)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.02


def test_stream_names_give_different_numbers():
    st = Streams(1)
    slots = np.arange(1000)
    a = st["onset/time"].uniform(slots, 5)
    b = st["onset/condition"].uniform(slots, 5)
    assert not np.any(a == b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.15


def test_same_key_same_number_in_fresh_streams():
    slots = np.array([0, 1, 2, 99, 12345])
    for week in (-52, 0, 7):
        a = Streams(42)["episode/eq5d"].uniform(slots, week)
        b = Streams(42)["episode/eq5d"].uniform(slots, week)
        assert np.array_equal(a, b)
        assert np.array_equal(Streams(42)["episode/eq5d"].normal(slots, week),
                              Streams(42)["episode/eq5d"].normal(slots, week))


def test_different_weeks_seeds_and_draws_differ():
    slots = np.arange(1000)
    s = Streams(42)["x"]
    w0, w1 = s.uniform(slots, 0), s.uniform(slots, 1)
    assert not np.any(w0 == w1)
    assert not np.any(w0 == Streams(43)["x"].uniform(slots, 0))
    assert not np.any(w0 == s.uniform(slots, 0, draw=1))


def test_streams_returns_the_same_stream_object():
    st = Streams(9)
    assert st["a"] is st["a"]
    assert st["a"] is not st["b"]


@pytest.mark.parametrize("mean", [1.0, 7.5])
def test_normal_and_exponential_transforms(mean):
    s = Stream(8, "dist")
    slots = np.arange(100_000)
    z = s.normal(slots, 0)
    assert np.all(np.isfinite(z))
    assert stats.kstest(z, "norm").pvalue > 0.001
    e = s.exponential(slots, 0, mean)
    assert np.all(e > 0) and np.all(np.isfinite(e))
    assert stats.kstest(e / mean, "expon").pvalue > 0.001


@given(hs.lists(hs.integers(0, 2**31 - 1), max_size=40), hs.integers(-1000, 10_000),
       hs.integers(1, MAX_DRAWS))
def test_many_draws_at_once_equal_each_draw_alone(slots, week, n):
    s = Stream(11, "decide/x")
    slots = np.array(slots, dtype=np.int64)
    at_once = s.uniforms(slots, week, n)
    assert at_once.shape == (len(slots), n)
    for j in range(n):
        assert np.array_equal(at_once[:, j], s.uniform(slots, week, draw=j))


def test_the_extreme_bit_patterns_stay_strictly_inside_the_unit_interval():
    """(k + 0.5) / 2**53 rounds to exactly 1.0 for the largest k: a Gumbel draw from it would
    be infinite and could pick an option that is not available."""
    from msksim.decisions import logit_choice
    from msksim.rng import _to_unit

    top = _to_unit(np.array([2**64 - 1, 0], dtype=np.uint64))
    assert 0.0 < top[1] and top[0] < 1.0
    value = np.array([[0.0, -np.inf]])
    assert logit_choice(value, np.array([[0.5, top[0]]]), 0.02)[0] == 0


@given(hs.lists(hs.integers(0, 2**31 - 1), max_size=60), hs.integers(-1000, 10_000),
       hs.integers(0, MAX_DRAWS - 1), hs.sampled_from([np.int64, np.int32, np.uint64]))
def test_compiled_draws_equal_the_numpy_reference_bit_for_bit(slots, week, draw, dtype):
    """The numba kernels behind `uniform` and `uniforms` give exactly the plain-numpy mixing."""
    s = Stream(23, "decide/compiled")
    slots = np.array(slots, dtype=dtype)
    assert np.array_equal(s.uniform(slots, week, draw), s.uniform_reference(slots, week, draw))
    n = draw + 1
    assert np.array_equal(s.uniforms(slots, week, n), s.uniforms_reference(slots, week, n))


def test_a_single_slot_or_a_grid_of_slots_keeps_its_shape():
    s = Stream(5, "shape")
    grid = np.arange(12).reshape(3, 4)
    assert s.uniform(grid, 9).shape == (3, 4)
    assert np.array_equal(s.uniform(grid, 9), s.uniform_reference(grid, 9))
    assert s.uniform(7, 9) == s.uniform(np.array([7]), 9)[0]
    assert s.uniform([], 9).shape == (0,)
