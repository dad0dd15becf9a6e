"""Compiled loops (numba) for the few kernels that profiling showed dominate a week.

Each kernel does in one pass over its people what took several numpy calls, each allocating a
temporary array; the numpy versions they replace are kept in the tests as the reference, and the
results are the same bit for bit. Compiled code is cached on disk (`cache=True`), so only the
first run on a machine pays for compiling.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# shifts as uint64: numba would turn uint64 >> int64 into floating point
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / float(1 << 53)
_BELOW_ONE = np.nextafter(1.0, 0.0)


@njit(cache=True, inline="always")
def _mix(x):
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


@njit(cache=True)
def uniforms(slots, key, counters):
    """`rng.Stream.uniforms` for one stream: rows are slots, columns the counters' draws."""
    n, k = len(slots), len(counters)
    out = np.empty((n, k))
    for i in range(n):
        base = _mix(np.uint64(slots[i]) * _GOLDEN + key)
        for j in range(k):
            x = _mix(base ^ (key ^ counters[j]))
            u = (np.float64(x >> _S11) + 0.5) * _TO_UNIT
            out[i, j] = u if u < _BELOW_ONE else _BELOW_ONE
    return out


@njit(cache=True)
def uniform(slots, key, counter):
    """`rng.Stream.uniform`: one U(0, 1) per slot for one stream, week and draw."""
    n = len(slots)
    out = np.empty(n)
    for i in range(n):
        x = _mix(_mix(np.uint64(slots[i]) * _GOLDEN + key) ^ (key ^ counter))
        u = (np.float64(x >> _S11) + 0.5) * _TO_UNIT
        out[i] = u if u < _BELOW_ONE else _BELOW_ONE
    return out


# population states (population.State), repeated here as plain integers for the compiler
_WELL, _SELF_CARE, _WAITING_SURGERY, _GONE = 0, 1, 4, 6


@njit(cache=True)
def active(state):
    """Slots whose state is neither well nor gone (everyone with an episode), in order."""
    n = 0
    for i in range(len(state)):
        if _WELL < state[i] < _GONE:
            n += 1
    out = np.empty(n, dtype=np.int64)
    n = 0
    for i in range(len(state)):
        if _WELL < state[i] < _GONE:
            out[n] = i
            n += 1
    return out


@njit(cache=True)
def still_active(slots, state):
    """Those of `slots` whose state is neither well nor gone, in order."""
    keep = np.empty(len(slots), dtype=np.bool_)
    n = 0
    for i in range(len(slots)):
        s = state[slots[i]]
        keep[i] = _WELL < s < _GONE
        n += keep[i]
    out = np.empty(n, dtype=slots.dtype)
    n = 0
    for i in range(len(slots)):
        if keep[i]:
            out[n] = slots[i]
            n += 1
    return out


@njit(cache=True)
def episode_ends(act, state, recover_week, week):
    """Those of `act` whose self-limiting episode ends by `week`, if self-managed or waiting
    (not while in care, on the operating table or recovering from it)."""
    keep = np.empty(len(act), dtype=np.bool_)
    n = 0
    for i in range(len(act)):
        j = act[i]
        s = state[j]
        keep[i] = recover_week[j] <= week and _SELF_CARE <= s <= _WAITING_SURGERY
        n += keep[i]
    out = np.empty(n, dtype=act.dtype)
    n = 0
    for i in range(len(act)):
        if keep[i]:
            out[n] = act[i]
            n += 1
    return out


@njit(cache=True)
def age_health(act, state, condition, eq5d, eq5d_norm, qaly_loss, drift_by_condition,
               eq5d_min):
    """A week of health for everyone in `act` still in an episode: chronic conditions drift
    (while not in care for them), then the week's QALYs lost below the age norm are counted.
    Returns the week's loss of each of them still in an episode, in `act`'s order, in float32
    like the arrays it is added to."""
    loss = np.empty(len(act), dtype=np.float32)
    n = 0
    for i in range(len(act)):
        j = act[i]
        s = state[j]
        if s == _WELL:
            continue
        d = drift_by_condition[condition[j]]
        if d != 0.0 and s <= _WAITING_SURGERY:
            x = max(np.float64(eq5d[j]) + d, eq5d_min)
            eq5d[j] = np.float32(min(x, np.float64(eq5d_norm[j])))
        gap = eq5d_norm[j] - eq5d[j]
        if gap < np.float32(0.0):
            gap = np.float32(0.0)
        loss[n] = gap / np.float32(52.0)
        qaly_loss[j] += loss[n]
        n += 1
    return loss[:n]
