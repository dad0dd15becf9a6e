"""Common random numbers: named, counter-based random streams indexed by a person's slot.

A draw is a pure function of (base seed, stream name, person slot, week, draw number), computed
by a SplitMix64-style mixing of those integers (a counter-based generator in the spirit of
Random123's Philox, vectorised in numpy). So a person's uniform for "gp_refer" in week 40 does not
depend on who else is drawn that week, on the order of the code, or on the payment rule: two
scenarios with the same seed see the same people fall ill in the same weeks, and a changed lever
only flips the decisions of marginal patients.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.special import ndtri

from . import kernels

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_TO_UNIT = 1.0 / float(1 << 53)
MAX_DRAWS = 64  # draws per person, stream and week


def stream_key(seed: int, name: str) -> int:
    """A 64-bit key for a named stream (from the name, never from creation order)."""
    digest = hashlib.blake2b(f"{int(seed)}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


_MASK = (1 << 64) - 1
_S30, _S27, _S31, _S11 = (np.uint64(k) for k in (30, 27, 31, 11))


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on `x` (a fresh uint64 array: arrays wrap silently on
    overflow, which is the point; only numpy scalars would warn)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


_BELOW_ONE = np.nextafter(1.0, 0.0)


def _to_unit(x: np.ndarray) -> np.ndarray:
    """53 random bits to a float strictly inside (0, 1): (k + 0.5) / 2**53 rounds to exactly
    1.0 for the top k, so that one value is held just below 1 (a Gumbel draw must be finite)."""
    u = (x >> _S11).astype(np.float64)
    u += 0.5
    u *= _TO_UNIT
    return np.minimum(u, _BELOW_ONE, out=u)


def _counters(week: int, first_draw: int, n_draws: int) -> np.ndarray:
    """The counters of draws first_draw.. for a week (uint64; the product wraps at 64 bits,
    done on Python ints to stay exact)."""
    base = (int(week) + (1 << 20)) * MAX_DRAWS + int(first_draw)
    return np.array([(base + d) * int(_GOLDEN) & _MASK for d in range(n_draws)],
                    dtype=np.uint64)


class Stream:
    """One named stream. `uniform(slots, week)` gives each slot its own U(0,1) for that week."""

    def __init__(self, seed: int, name: str):
        self.name = name
        self.key = np.uint64(stream_key(seed, name))

    def uniform(self, slots: np.ndarray, week: int, draw: int = 0) -> np.ndarray:
        if not 0 <= draw < MAX_DRAWS:
            raise ValueError(f"draw must be in [0, {MAX_DRAWS}); got {draw}")
        slots = np.asarray(slots)  # any shape, as the numpy version allowed
        return kernels.uniform(slots.reshape(-1), self.key,
                               _counters(week, draw, 1)[0]).reshape(slots.shape)

    def uniform_reference(self, slots: np.ndarray, week: int, draw: int = 0) -> np.ndarray:
        """`uniform` in plain numpy (the compiled kernel's reference, kept for the tests)."""
        counter = _counters(week, draw, 1)[0]
        x = np.array(slots, dtype=np.uint64)  # a copy: mixed in place below
        x *= _GOLDEN
        x += self.key
        x = _mix(x)
        x ^= self.key ^ counter
        x = _mix(x)
        return _to_unit(x)

    def uniforms(self, slots: np.ndarray, week: int, n_draws: int) -> np.ndarray:
        """Draws 0..n_draws-1 for each slot at once (rows: slots; column j equals
        `uniform(slots, week, draw=j)` bit for bit): the slot's own mix is done once."""
        if not 0 < n_draws <= MAX_DRAWS:
            raise ValueError(f"n_draws must be in [1, {MAX_DRAWS}]; got {n_draws}")
        return kernels.uniforms(np.asarray(slots).reshape(-1), self.key,
                                _counters(week, 0, n_draws))

    def uniforms_reference(self, slots: np.ndarray, week: int, n_draws: int) -> np.ndarray:
        """`uniforms` in plain numpy (the compiled kernel's reference, kept for the tests)."""
        counters = _counters(week, 0, n_draws)
        x = np.array(slots, dtype=np.uint64).reshape(-1, 1)
        x *= _GOLDEN
        x += self.key
        x = _mix(x)
        x = x ^ (self.key ^ counters)[None, :]  # (slots, draws)
        return _to_unit(_mix(x))

    def normal(self, slots: np.ndarray, week: int, draw: int = 0) -> np.ndarray:
        return ndtri(self.uniform(slots, week, draw))

    def exponential(self, slots: np.ndarray, week: int, mean: np.ndarray | float,
                    draw: int = 0) -> np.ndarray:
        return -np.log(self.uniform(slots, week, draw)) * mean

    def generator(self, week: int) -> np.random.Generator:
        """A numpy Generator for draws that belong to no person (e.g. a cell's count)."""
        return np.random.default_rng(np.random.SeedSequence([int(self.key), int(week) + (1 << 20)]))


class Streams:
    """The model's named streams, created on first use and refusing duplicate keys."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._streams: dict[str, Stream] = {}
        self._keys: set[int] = set()

    def __getitem__(self, name: str) -> Stream:
        s = self._streams.get(name)
        if s is None:
            s = Stream(self.seed, name)
            if int(s.key) in self._keys:  # pragma: no cover - a 64-bit collision
                raise RuntimeError(f"random stream {name!r} collides with another stream")
            self._keys.add(int(s.key))
            self._streams[name] = s
        return s
