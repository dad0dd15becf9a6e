"""Condition and procedure parameters as arrays indexed by condition or procedure number."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SPECIALTIES, CityConfig

JOINTS = ("hip", "knee")
# Oxford Hip/Knee Score from EQ-5D index: a linear map fitted by eye to national PROMs pairs
# (pre-op OHS ~18 at EQ-5D ~0.35, post-op ~38-40 at ~0.80; OKS ~19 at ~0.40, ~35 at ~0.75).
OXFORD_INTERCEPT = {"hip": 3.0, "knee": 2.0}
OXFORD_SLOPE = {"hip": 44.0, "knee": 44.0}
EQ5D_MIN = -0.594  # worst EQ-5D-3L UK index


@dataclass
class ConditionTables:
    names: list[str]
    onset_per_week: np.ndarray  # [condition, age band, female]
    chronic: np.ndarray
    median_duration_weeks: np.ndarray
    duration_sigma: np.ndarray
    consult_probability: np.ndarray
    consult_delay_weeks: np.ndarray
    reconsult_per_year: np.ndarray
    gp_review_probability: np.ndarray
    gp_review_interval_weeks: np.ndarray
    eq5d_onset_mean: np.ndarray
    eq5d_onset_sd: np.ndarray
    eq5d_drift_per_week: np.ndarray
    joint: np.ndarray  # -1 none, 0 hip, 1 knee
    specialty: np.ndarray  # index into SPECIALTIES
    procedure: np.ndarray  # index into procedures, -1 none
    benefit_primary: np.ndarray
    benefit_community: np.ndarray
    benefit_specialist: np.ndarray
    benefit_hub: np.ndarray
    community_speedup: np.ndarray
    community_eq5d_gain: np.ndarray
    follow_up_floor: np.ndarray
    biologic_share: np.ndarray
    prevalence_per_person: np.ndarray  # [condition, age band, female]
    prevalent_weeks_max: np.ndarray


#: what provider-level estimates (the value of one more session) assume; booking and quoted
#: waits use each theatre's own session and turnaround minutes
TYPICAL_SESSION_MINUTES = 240.0
TYPICAL_TURNAROUND_MINUTES = 20.0


@dataclass
class ProcedureTables:
    names: list[str]
    tariff_gbp: np.ndarray
    session_share: np.ndarray  # mean share of a 4-hour session one case uses (for estimates)
    # case types (primary, revision, ...), flattened over procedures
    case_names: list[str]
    case_procedure: np.ndarray  # case type -> procedure index
    case_cum_share: np.ndarray  # cumulative share within its procedure (for drawing)
    case_minutes: np.ndarray  # planned touch-time
    case_cv: np.ndarray
    case_los_mean: np.ndarray  # days
    case_los_sd: np.ndarray
    post_eq5d_mean: np.ndarray
    post_eq5d_sd: np.ndarray
    offer_threshold_qaly: np.ndarray
    horizon_years: np.ndarray
    recovery_weeks: np.ndarray


def _rate_cube(per_1000: float, age_ratio: list[float], female_ratio: float,
               band_shares: np.ndarray, female_shares: np.ndarray) -> np.ndarray:
    """Per-person yearly rate by [band, female], scaled so the adult average is `per_1000`."""
    age = np.asarray(age_ratio)
    cube = np.stack([age, age * female_ratio], axis=1)
    mean = (band_shares * ((1 - female_shares) * cube[:, 0] + female_shares * cube[:, 1])).sum()
    return cube * (per_1000 / 1000.0) / max(mean, 1e-12)


def build_tables(cfg: CityConfig) -> tuple[ConditionTables, ProcedureTables]:
    procs = list(cfg.procedures)
    shares = np.asarray(cfg.population.age_band_shares)
    fem = np.asarray(cfg.population.female_share_by_age_band)
    cs = list(cfg.conditions.values())

    def arr(f, dtype=np.float64):
        return np.asarray([f(c) for c in cs], dtype=dtype)

    onset = np.stack([_rate_cube(c.onset_per_1000_per_year, c.age_rate_ratio,
                                 c.female_rate_ratio, shares, fem) for c in cs]) / 52.0
    prev = np.stack([_rate_cube(c.prevalence_at_start_per_1000, c.age_rate_ratio,
                                c.female_rate_ratio, shares, fem) for c in cs])
    ct = ConditionTables(
        names=list(cfg.conditions),
        onset_per_week=onset,
        chronic=arr(lambda c: c.chronic, bool),
        median_duration_weeks=arr(lambda c: c.median_duration_weeks),
        duration_sigma=arr(lambda c: c.duration_sigma_log),
        consult_probability=arr(lambda c: c.consult_probability),
        consult_delay_weeks=arr(lambda c: c.consult_delay_weeks_mean),
        reconsult_per_year=arr(lambda c: c.reconsult_per_year),
        gp_review_probability=arr(lambda c: c.gp_review_probability),
        gp_review_interval_weeks=arr(lambda c: c.gp_review_interval_weeks, np.int32),
        eq5d_onset_mean=arr(lambda c: c.eq5d_at_onset_mean),
        eq5d_onset_sd=arr(lambda c: c.eq5d_at_onset_sd),
        eq5d_drift_per_week=arr(lambda c: c.eq5d_change_per_year / 52.0),
        joint=arr(lambda c: JOINTS.index(c.oxford_joint) if c.oxford_joint else -1, np.int8),
        specialty=arr(lambda c: SPECIALTIES.index(c.specialty), np.int8),
        procedure=arr(lambda c: procs.index(c.procedure) if c.procedure else -1, np.int16),
        benefit_primary=arr(lambda c: c.route_benefit.primary_care_qaly),
        benefit_community=arr(lambda c: c.route_benefit.community_qaly),
        benefit_specialist=arr(lambda c: c.route_benefit.specialist_qaly),
        benefit_hub=arr(lambda c: c.route_benefit.hub_qaly),
        community_speedup=arr(lambda c: c.community_recovery_speedup),
        community_eq5d_gain=arr(lambda c: c.community_eq5d_gain),
        follow_up_floor=arr(lambda c: c.follow_up_benefit_floor_qaly),
        biologic_share=arr(lambda c: c.biologic_share),
        prevalence_per_person=prev,
        prevalent_weeks_max=arr(lambda c: c.prevalent_years_max * 52.0),
    )
    ps = list(cfg.procedures.values())
    cases = [(j, n, c) for j, p in enumerate(ps) for n, c in p.case_types.items()]
    cum = np.zeros(len(cases))
    for k, (j, _, c) in enumerate(cases):
        cum[k] = c.share + (cum[k - 1] if k and cases[k - 1][0] == j else 0.0)
    pt = ProcedureTables(
        names=procs,
        tariff_gbp=np.asarray([p.tariff_gbp for p in ps]),
        session_share=np.asarray([
            sum(c.share * (c.duration_minutes + TYPICAL_TURNAROUND_MINUTES)
                for c in p.case_types.values()) / TYPICAL_SESSION_MINUTES for p in ps]),
        case_names=[f"{procs[j]}.{n}" for j, n, _ in cases],
        case_procedure=np.asarray([j for j, _, _ in cases], dtype=np.int16),
        case_cum_share=cum,
        case_minutes=np.asarray([c.duration_minutes for _, _, c in cases]),
        case_cv=np.asarray([c.duration_cv for _, _, c in cases]),
        case_los_mean=np.asarray([c.los_days_mean for _, _, c in cases]),
        case_los_sd=np.asarray([c.los_days_sd for _, _, c in cases]),
        post_eq5d_mean=np.asarray([p.post_op_eq5d_mean for p in ps]),
        post_eq5d_sd=np.asarray([p.post_op_eq5d_sd for p in ps]),
        offer_threshold_qaly=np.asarray([p.offer_threshold_qaly for p in ps]),
        horizon_years=np.asarray([p.benefit_horizon_years for p in ps]),
        recovery_weeks=np.asarray([p.recovery_weeks for p in ps], dtype=np.int32),
    )
    return ct, pt


def oxford_score(eq5d: np.ndarray, joint: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Oxford Hip (joint 0) or Knee (joint 1) score, 0-48, from EQ-5D and a personal offset."""
    a = np.where(joint == 0, OXFORD_INTERCEPT["hip"], OXFORD_INTERCEPT["knee"])
    b = np.where(joint == 0, OXFORD_SLOPE["hip"], OXFORD_SLOPE["knee"])
    return np.clip(a + b * eq5d + offset, 0.0, 48.0)
