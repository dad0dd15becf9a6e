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
_WELL, _SELF_CARE, _WAITING_SURGERY, _RECOVERING, _GONE = 0, 1, 4, 5, 6


@njit(cache=True, inline="always")
def _has_episode(state):
    """Neither well nor gone, in one comparison (WELL wraps round to 255; relies on WELL and
    GONE being the first and last states): 1 or 0, to advance a branch-free output index."""
    return np.uint8(state) - np.uint8(1) < np.uint8(_GONE - 1)


@njit(cache=True)
def active(state):
    """Slots whose state is neither well nor gone (everyone with an episode), in order."""
    out = np.empty(len(state), dtype=np.int64)
    n = 0
    for i in range(len(state)):  # branch-free: write every slot, advance past the kept ones
        out[n] = i
        n += _has_episode(state[i])
    return out[:n].copy()


@njit(cache=True)
def still_active(slots, state):
    """Those of `slots` whose state is neither well nor gone, in order."""
    out = np.empty(len(slots), dtype=slots.dtype)
    n = 0
    for i in range(len(slots)):
        out[n] = slots[i]
        n += _has_episode(state[slots[i]])
    return out[:n].copy()


@njit(cache=True)
def _at_service(members, state, service, s, st):
    """Those of `members` in state `st` at service `s` (may repeat someone)."""
    out = np.empty(len(members), dtype=np.int64)
    n = 0
    for i in range(len(members)):
        j = members[i]
        out[n] = j
        n += (state[j] == st) & (service[j] == s)
    return out[:n]


@njit(cache=True)
def queue(members, state, service, s, st, by_week, due_week):
    """The people of `members` in state `st` at service `s`, each once, in service order:
    by `by_week` (earliest first), then by slot; only those whose `by_week` is at most
    `due_week`. `by_week` may be empty: by slot alone, everyone."""
    q = _at_service(members, state, service, s, st)
    if len(by_week):
        n = 0
        for i in range(len(q)):
            q[n] = q[i]
            n += by_week[q[i]] <= due_week
        q = q[:n]
        key = np.empty(len(q), dtype=np.int64)
        for i in range(len(q)):  # week in the high 32 bits, slot in the low (both int32)
            key[i] = (np.int64(by_week[q[i]]) << 32) | q[i]
        q = q[np.argsort(key)]
    else:
        q = np.sort(q)
    out = np.empty(len(q), dtype=np.int64)
    n = 0
    for i in range(len(q)):  # someone referred here this week may be listed twice
        if i == 0 or q[i] != q[i - 1]:
            out[n] = q[i]
            n += 1
    return out[:n]


@njit(cache=True)
def queue_length(members, state, service, s, st, may_repeat):
    """How many people of `members` are in state `st` at service `s` (each counted once)."""
    q = _at_service(members, state, service, s, st)
    if not may_repeat or len(q) < 2:
        return len(q)
    q = np.sort(q)
    n = 1
    for i in range(1, len(q)):
        n += q[i] != q[i - 1]
    return n


_EPS = 1e-9  # as theatres._EPS


@njit(cache=True)
def assign_sessions(use, sessions, horizon):
    """`theatres.assign_sessions` over the first `horizon` cases (its docstring says how)."""
    n = len(use)
    session = np.full(n, -1, dtype=np.int64)
    free = np.arange(min(n, horizon))
    n_free = len(free)
    for k in range(sessions):
        if n_free == 0:
            break
        # the longest run of cases from the front that fits
        total, n_front = 0.0, 0
        while n_front < n_free and total + use[free[n_front]] <= 1.0 + _EPS:
            total += use[free[n_front]]
            n_front += 1
        room = 1.0 - total
        # then later cases short enough, for as long as their running total fits
        taken = n_front
        later = 0.0
        for i in range(n_front, n_free):
            u = use[free[i]]
            if u <= room + _EPS:
                later += u
                if later > room + _EPS:
                    break
                session[free[i]] = k
                taken += 1
        if taken == 0:
            break  # the next case is longer than a whole session
        for i in range(n_front):
            session[free[i]] = k
        m = 0
        for i in range(n_free):
            if session[free[i]] < 0:
                free[m] = free[i]
                m += 1
        n_free = m
    return session


@njit(cache=True)
def rtt_census(act, clock_start_week, service, state, week, standard_weeks, n_services,
               n_states):
    """The week's incomplete RTT pathways among `act`: how many, how many within the standard
    and over 52 weeks (totals, then by service), and everyone in `act` by state.

    Returns (totals[3], by_service[3, n_services], by_state[n_states]); a pathway at no
    service counts in the totals only."""
    totals = np.zeros(3, dtype=np.int64)
    by_service = np.zeros((3, n_services), dtype=np.int64)
    by_state = np.zeros(n_states, dtype=np.int64)
    never = np.iinfo(np.int32).max
    for i in range(len(act)):
        j = act[i]
        by_state[state[j]] += 1
        if clock_start_week[j] == never:
            continue
        wait = week - clock_start_week[j]
        within, over = wait <= standard_weeks, wait > 52
        totals[0] += 1
        totals[1] += within
        totals[2] += over
        s = service[j]
        if s >= 0:
            by_service[0, s] += 1
            by_service[1, s] += within
            by_service[2, s] += over
    return totals, by_service, by_state


@njit(cache=True, inline="always")
def _row_sum(a, i):
    """numpy's sum of row i of a C-ordered 2-d array: sequential below 8 terms, otherwise
    eight running sums combined pairwise, then the remainder (numpy's pairwise_sum, for rows
    of at most 128; `decisions` sends longer rows to numpy)."""
    n = a.shape[1]
    if n < 8:
        s = 0.0
        for j in range(n):
            s += a[i, j]
        return s
    r0, r1, r2, r3 = a[i, 0], a[i, 1], a[i, 2], a[i, 3]
    r4, r5, r6, r7 = a[i, 4], a[i, 5], a[i, 6], a[i, 7]
    j = 8
    while j < n - n % 8:
        r0 += a[i, j]
        r1 += a[i, j + 1]
        r2 += a[i, j + 2]
        r3 += a[i, j + 3]
        r4 += a[i, j + 4]
        r5 += a[i, j + 5]
        r6 += a[i, j + 6]
        r7 += a[i, j + 7]
        j += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while j < n:
        s += a[i, j]
        j += 1
    return s


@njit(cache=True, inline="always")
def _row_max(a, i):
    """np.max of row i of a 2-d array: the largest, or the first nan if there is one."""
    top = a[i, 0]
    for j in range(1, a.shape[1]):
        x = a[i, j]
        if (x > top or np.isnan(x)) and not np.isnan(top):
            top = x
    return top


@njit(cache=True)
def scaled_from_row_max(value, scale):
    """value / scale less each row's largest (the logit's exponent before exp)."""
    k, n = value.shape
    z = np.empty((k, n))
    for i in range(k):
        for j in range(n):
            z[i, j] = value[i, j] / scale
        top = _row_max(z, i)
        for j in range(n):
            z[i, j] -= top
    return z


@njit(cache=True)
def normalise_rows(w):
    """Each row of `w` divided by its sum, in place (numpy's summation order)."""
    for i in range(w.shape[0]):
        s = _row_sum(w, i)
        for j in range(w.shape[1]):
            w[i, j] /= s
    return w


@njit(cache=True)
def noisy_argmax(value, scale, gumbel):
    """Each row's first best option of value + scale × gumbel (np.argmax: nan counts as
    largest)."""
    k, n = value.shape
    out = np.zeros(k, dtype=np.int64)
    for i in range(k):
        best = value[i, 0] + scale * gumbel[i, 0]
        if np.isnan(best):
            continue
        for j in range(1, n):
            x = value[i, j] + scale * gumbel[i, j]
            if np.isnan(x):
                out[i] = j
                break
            if x > best:
                best = x
                out[i] = j
    return out


@njit(cache=True)
def shift_terms(value, org_value, p, cols):
    """`decisions._shift_terms` for (people, options) arrays: P_j (D_j − Σ_k P_k D_k) for the
    options in `cols`, with D = org_value − value where P > 0 (0 elsewhere)."""
    k, n = value.shape
    d = np.zeros((k, n))
    pd = np.empty((k, n))
    out = np.empty((k, len(cols)))
    for i in range(k):
        for j in range(n):
            if p[i, j] > 0:
                d[i, j] = org_value[i, j] - value[i, j]
            pd[i, j] = p[i, j] * d[i, j]
        mean = _row_sum(pd, i)
        for c in range(len(cols)):
            out[i, c] = p[i, cols[c]] * (d[i, cols[c]] - mean)
    return out


@njit(cache=True)
def row_max_and_shifted(value, scale):
    """For `decisions.inclusive_value`: each row's largest value, and (value − it) / scale,
    -inf where the value is -inf."""
    k, n = value.shape
    top = np.empty(k)
    z = np.empty((k, n))
    for i in range(k):
        t = top[i] = _row_max(value, i)
        for j in range(n):
            x = value[i, j]
            z[i, j] = -np.inf if x == -np.inf else (x - t) / scale
    return top, z


@njit(cache=True)
def row_sums(a):
    """Each row's sum (numpy's order)."""
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = _row_sum(a, i)
    return out


@njit(cache=True)
def file_by_week(table, count, slots, weeks, first_week, start):
    """Append each of `slots[start:]` to its week's row of `table` (row k: week
    `first_week + k`; `count[k]` of it in use); weeks outside the table are skipped. Stops at
    the first slot whose row is full and returns its index (the caller makes room and goes on
    from there); returns len(slots) when all are filed."""
    n_weeks, room = table.shape
    for i in range(start, len(slots)):
        k = np.int64(weeks[i]) - first_week
        if 0 <= k < n_weeks:
            c = count[k]
            if c == room:
                return i
            table[k, c] = slots[i]
            count[k] = c + 1
    return len(slots)


@njit(cache=True)
def week_census(state, recover_week, condition, eq5d, eq5d_norm, qaly_loss, drift_by_condition,
                eq5d_min, next_week, service, week, n_services, scratch):
    """The week's one pass over everyone (the natural history and who is where):

    - self-limiting episodes that end by `week`, if self-managed or waiting (not while in
      care, on the operating table or recovering from it): `ends`;
    - for everyone else with an episode (`act`, in order), a week of health: chronic
      conditions drift (not while recovering from surgery), then the week's QALYs lost below
      the age norm are counted (`loss`, float32 like the arrays it is added to);
    - of those, the self-managed whose GP consultation is due (`due`), and those recovering
      from surgery whose outcome is due (`recovered`);
    - and those at a service, grouped by service, each group in `act`'s order: service s's
      people are at[bounds[s]:bounds[s + 1]].

    Returns (act, ends, loss, due, recovered, at, bounds): the same, bit for bit, as the
    week's steps done one at a time in numpy (tests/test_kernels.py). Branch-free where the
    outcome is hard to predict (which condition drifts, who is at a service): measured faster.
    `scratch`: working space at least as long as `state` (nothing returned is a view of it)."""
    n = len(state)
    act = scratch
    na = 0
    for i in range(n):  # branch-free, as `active`
        act[na] = i
        na += _has_episode(state[i])
    ends = np.empty(na, dtype=np.int64)
    loss = np.empty(na, dtype=np.float32)
    due = np.empty(na, dtype=np.int64)
    recovered = np.empty(na, dtype=np.int64)
    group = np.empty(na, dtype=np.int64)  # service + 1 (0: at none)
    count = np.zeros(n_services + 1, dtype=np.int64)
    ne = nk = nd = nr = 0
    zero = np.float32(0.0)
    for a in range(na):
        j = act[a]
        s = state[j]
        if (recover_week[j] <= week) & (np.uint8(s) - np.uint8(_SELF_CARE)
                                        <= np.uint8(_WAITING_SURGERY - _SELF_CARE)):
            ends[ne] = j  # (few a week: a well-predicted branch)
            ne += 1
            continue
        d = drift_by_condition[condition[j]]
        old, norm = eq5d[j], eq5d_norm[j]
        drifted = np.float32(min(max(np.float64(old) + d, eq5d_min), np.float64(norm)))
        e = drifted if (d != 0.0) & (s <= _WAITING_SURGERY) else old
        eq5d[j] = e
        gap = max(norm - e, zero)
        loss[nk] = gap / np.float32(52.0)
        qaly_loss[j] += loss[nk]
        act[nk] = j  # (nk <= a: overwrites only slots already read)
        due[nd] = j
        nd += (s == _SELF_CARE) & (next_week[j] <= week)
        recovered[nr] = j
        nr += (s == _RECOVERING) & (next_week[j] <= week)
        g = service[j] + 1
        group[nk] = g
        count[g] += 1
        nk += 1
    # a counting sort by service, keeping `act`'s order within each
    start = np.zeros(n_services + 2, dtype=np.int64)
    for g in range(n_services + 1):
        start[g + 1] = start[g] + count[g]
    fill = start[:-1].copy()
    placed = np.empty(nk, dtype=np.int64)
    for a in range(nk):
        placed[fill[group[a]]] = act[a]
        fill[group[a]] += 1
    bounds = start[1:] - count[0]
    return (act[:nk].copy(), ends[:ne].copy(), loss[:nk].copy(), due[:nd].copy(),
            recovered[:nr].copy(), placed[count[0]:], bounds)
