"""Every adult as a row of numpy arrays (struct of arrays), with a read-only `Patient` view.

A person's row index is their *slot*: stable for life, never reused, so a slot also indexes
that person's random streams (common random numbers). Arrays grow by at least half when new
adults arrive, so growth costs amortised O(1) per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from . import kernels
from .config import AGE_BAND_LOWER_YEARS, AGE_BANDS, PopulationConfig
from .rng import Streams

NEVER = np.int32(np.iinfo(np.int32).max)
NO_CONDITION = -1
NO_SERVICE = -1


class State(IntEnum):
    """Where a person is in the pathway. Every person is in exactly one state."""

    WELL = 0  # no MSK episode
    SELF_CARE = 1  # an episode, managed at home or by the GP; may consult again
    WAITING_FIRST = 2  # referred, waiting for the first contact at `service`
    IN_CARE = 3  # under `service`: the next follow-up or contact is due at `next_week`
    WAITING_SURGERY = 4  # on `service`'s (a theatre's) waiting list
    RECOVERING = 5  # operated on; outcome measured at `next_week`
    GONE = 6  # died or moved away from the city


# the compiled kernels use the states' numbers, and `active` relies on WELL and GONE being the
# first and last
assert (State.WELL, State.SELF_CARE, State.WAITING_SURGERY, State.RECOVERING, State.GONE) == (
    kernels._WELL, kernels._SELF_CARE, kernels._WAITING_SURGERY, kernels._RECOVERING,
    kernels._GONE)
assert State.WELL == 0 and State.GONE == max(State)


# name -> (dtype, fill value)
FIELDS: dict[str, tuple[type, object]] = {
    "age_years": (np.float32, 0.0),
    "age_band": (np.int8, 0),
    "female": (np.bool_, False),
    "imd_quintile": (np.int8, 1),  # 1 = most deprived
    "practice": (np.int16, 0),
    "condition": (np.int8, NO_CONDITION),
    "state": (np.int8, State.WELL),
    "service": (np.int16, NO_SERVICE),
    "next_week": (np.int32, NEVER),  # next pathway event (consultation, contact, outcome)
    "recover_week": (np.int32, NEVER),  # natural end of a self-limiting episode
    "onset_week": (np.int32, NEVER),  # when the next episode starts (while well)
    "episode_start_week": (np.int32, NEVER),
    "clock_start_week": (np.int32, NEVER),  # RTT clock (NEVER = no clock running)
    "queue_entry_week": (np.int32, NEVER),
    # on a theatre list: case type, FSSA priority (0 = P2), booking due week, not bookable
    # before `list_hold_week` (a deferral), validated off the list at `list_removal_week`
    "case_type": (np.int16, -1),
    "list_priority": (np.int8, -1),
    "list_due_week": (np.int32, NEVER),
    "list_hold_week": (np.int32, NEVER),
    "list_removal_week": (np.int32, NEVER),
    "referral_source": (np.int16, NO_SERVICE),  # service index that referred (-2 = GP)
    "eq5d": (np.float32, 0.9),
    "eq5d_norm": (np.float32, 0.9),
    "eq5d_before_surgery": (np.float32, np.nan),
    "eq5d_after_surgery": (np.float32, np.nan),  # settled at surgery, measured at six months
    "oxford_offset": (np.float32, 0.0),
    "activation": (np.float32, 0.5),
    "surgery_preference": (np.float32, 1.0),
    "follow_ups": (np.int16, 0),  # follow-ups in this episode
    "contacts_left": (np.int16, 0),  # community contacts left in the course
    "on_biologic": (np.bool_, False),
    "contacts": (np.int32, 0),  # all service contacts, lifetime of the run
    "cost_gbp": (np.float32, 0.0),  # activity at tariff attributed to this person
    "qaly_loss": (np.float32, 0.0),  # QALYs lost to MSK conditions (below the age norm)
    "last_consult_year": (np.int16, -32768),
    # bit c set: consulted the GP about condition c in `last_consult_year` (consulters per
    # condition count each person once a year for each condition they consulted about)
    "consulted_conditions": (np.int64, 0),
}


class Population:
    """The adults of the city as arrays of length `capacity`; rows [0, n) are in use."""

    def __init__(self, capacity: int):
        capacity = max(int(capacity), 16)
        self.n = 0
        for name, (dtype, fill) in FIELDS.items():
            setattr(self, name, np.full(capacity, fill, dtype=dtype))
        #: working space for the compiled weekly passes (so a week allocates nothing this size)
        self.scratch = np.empty(capacity, dtype=np.int64)

    @property
    def capacity(self) -> int:
        return len(self.state)

    def add(self, k: int) -> np.ndarray:
        """Append `k` new people (default values) and return their slots."""
        if self.n + k > self.capacity:
            new_cap = max(self.n + k, int(self.capacity * 1.5))
            for name, (dtype, fill) in FIELDS.items():
                old = getattr(self, name)
                arr = np.full(new_cap, fill, dtype=dtype)
                arr[: self.n] = old[: self.n]
                setattr(self, name, arr)
            self.scratch = np.empty(new_cap, dtype=np.int64)
        slots = np.arange(self.n, self.n + k)
        self.n += k
        return slots

    def alive(self) -> np.ndarray:
        return np.flatnonzero(self.state[: self.n] != State.GONE)

    def active(self) -> np.ndarray:
        """Slots with an MSK episode (the only people a week's work touches)."""
        return kernels.active(self.state[: self.n])

    def still_active(self, slots: np.ndarray) -> np.ndarray:
        """Those of `slots` (people active earlier in the week) still in an episode: within a
        week episodes only end, so this is `active()` without scanning everyone."""
        return kernels.still_active(slots, self.state)

    def patient(self, slot: int) -> Patient:
        if not 0 <= slot < self.n:
            raise IndexError(f"no person in slot {slot}")
        return Patient(**{name: getattr(self, name)[slot].item() for name in FIELDS},
                       slot=int(slot))


@dataclass(frozen=True)
class Patient:
    """A read-only snapshot of one person, for inspection and debugging."""

    slot: int
    age_years: float
    age_band: int
    female: bool
    imd_quintile: int
    practice: int
    condition: int
    state: int
    service: int
    next_week: int
    recover_week: int
    onset_week: int
    episode_start_week: int
    clock_start_week: int
    queue_entry_week: int
    case_type: int
    list_priority: int
    list_due_week: int
    list_hold_week: int
    list_removal_week: int
    referral_source: int
    eq5d: float
    eq5d_norm: float
    eq5d_before_surgery: float
    eq5d_after_surgery: float
    oxford_offset: float
    activation: float
    surgery_preference: float
    follow_ups: int
    contacts_left: int
    on_biologic: bool
    contacts: int
    cost_gbp: float
    qaly_loss: float
    last_consult_year: int
    consulted_conditions: int

    @property
    def state_name(self) -> str:
        return State(self.state).name.lower()


def band_of(age_years: np.ndarray) -> np.ndarray:
    return (np.searchsorted(np.asarray(AGE_BAND_LOWER_YEARS), age_years, side="right") - 1).astype(
        np.int8)


def fill_new_people(pop: Population, slots: np.ndarray, cfg: PopulationConfig,
                    bands: np.ndarray, practice_weights: np.ndarray, streams: Streams,
                    week: int, surgery_preference_sd_log: float) -> None:
    """Give new adults their characteristics, each from its own stream at their slot."""
    lower = np.asarray(AGE_BAND_LOWER_YEARS + (101,), dtype=np.float64)
    u_age = streams["demography/age"].uniform(slots, week)
    width = lower[bands + 1] - lower[bands]
    width = np.where(bands == len(AGE_BANDS) - 1, 12.0, width)
    pop.age_years[slots] = lower[bands] + u_age * width
    pop.age_band[slots] = bands
    female_share = np.asarray(cfg.female_share_by_age_band)[bands]
    pop.female[slots] = streams["demography/sex"].uniform(slots, week) < female_share
    cum_imd = np.cumsum(cfg.deprivation_quintile_shares)
    u_imd = streams["demography/imd"].uniform(slots, week)
    pop.imd_quintile[slots] = np.minimum(np.searchsorted(cum_imd, u_imd * cum_imd[-1]), 4) + 1
    cum_pr = np.cumsum(practice_weights)
    u_pr = streams["demography/practice"].uniform(slots, week)
    pop.practice[slots] = np.minimum(np.searchsorted(cum_pr, u_pr * cum_pr[-1]),
                                     len(practice_weights) - 1)
    norm = np.asarray(cfg.eq5d_norm_by_age_band, dtype=np.float32)[bands]
    pop.eq5d_norm[slots] = norm
    pop.eq5d[slots] = norm
    pop.activation[slots] = streams["demography/activation"].uniform(slots, week)
    pop.oxford_offset[slots] = 3.0 * streams["demography/oxford"].normal(slots, week)
    z = streams["demography/preference"].normal(slots, week)
    pop.surgery_preference[slots] = np.exp(surgery_preference_sd_log * z
                                           - 0.5 * surgery_preference_sd_log**2)
    pop.state[slots] = State.WELL


def band_counts_target(cfg: PopulationConfig, n_adults: int) -> np.ndarray:
    shares = np.asarray(cfg.age_band_shares)
    counts = np.floor(shares * n_adults).astype(np.int64)
    counts[np.argmax(shares)] += n_adults - counts.sum()
    return counts
