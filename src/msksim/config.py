"""The configuration tree: one closed, typed pydantic model per part of the city.

Every field carries its unit in its name and its source (or "assumption") in its description,
so `docs/parameters.md` and the JSON Schema can be generated from this file. Unknown keys are
rejected everywhere. A scenario is a base config plus a small overlay (`load_config(path,
overlays=[...])`); overlays merge recursively, mappings key by key, lists replaced whole.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

AGE_BANDS: tuple[str, ...] = ("16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+")
AGE_BAND_LOWER_YEARS: tuple[int, ...] = (16, 25, 35, 45, 55, 65, 75, 85)
SPECIALTIES: tuple[str, ...] = ("orthopaedics", "rheumatology", "pain")
CONTRACT_RULES: tuple[str, ...] = ("pbr", "cobic", "block", "blended")
ContractRule = Literal["pbr", "cobic", "block", "blended"]
GP_NODE = "gp"
#: conditions a city may have (each person keeps a year's consulted conditions as 63 bits)
MAX_CONDITIONS = 63

BUILTIN_CONFIG = Path(__file__).parent / "data" / "sheffield.yaml"
MAX_CONFIG_BYTES = 1_000_000


class ConfigError(Exception):
    """A config problem explained in one line: the field, the value and what is allowed."""


def F(default: Any = ..., source: str = "assumption", **kw: Any) -> Any:
    """A field whose description records where its default comes from."""
    return Field(default, description=source, **kw)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
_BANDS = {"min_length": len(AGE_BANDS), "max_length": len(AGE_BANDS)}
PerBand = Annotated[list[NonNeg], Field(**_BANDS)]  # one non-negative value per age band
SharePerBand = Annotated[list[Share], Field(**_BANDS)]
GrowthPerBand = Annotated[list[Annotated[float, Field(ge=-0.5, le=0.5)]], Field(**_BANDS)]
Eq5dPerBand = Annotated[list[Annotated[float, Field(ge=-0.594, le=1.0)]], Field(**_BANDS)]
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_sums_to_one(values: list[float], name: str) -> None:
    total = sum(values)
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"{name}: must sum to 1 (they sum to {total:.4f})")


# ----------------------------------------------------------------------------------------------
# population and practices
# ----------------------------------------------------------------------------------------------
class PracticesConfig(Strict):
    count: int = F(93, "Pulse 2012: Sheffield CCG, 566,900 registered in 93 practices", ge=1,
                   le=5000)
    referral_propensity_sd_log: float = F(
        0.25, "assumption: between-practice spread of referral propensity (log-odds scale); "
        "practices vary ('unexplained variation in clinical activity', Sheffield GB paper 2013)",
        ge=0.0, le=2.0)
    list_size_sd_log: float = F(0.45, "assumption: spread of practice list sizes (log scale)",
                                ge=0.0, le=2.0)


class PopulationConfig(Strict):
    registered_adults: int = F(
        465_000, "Pulse 2012: 566,900 registered all ages × adult (16+) share ≈ 0.82 (ONS age "
        "structure, assumption)", ge=100, le=20_000_000)
    age_band_shares: SharePerBand = F(
        [0.19, 0.18, 0.15, 0.16, 0.12, 0.10, 0.07, 0.03],
        "assumption from ONS mid-2013 Sheffield estimates (student bulge at 16-24)")
    female_share_by_age_band: SharePerBand = F(
        [0.49, 0.49, 0.50, 0.50, 0.50, 0.52, 0.56, 0.66],
        "assumption from ONS mid-year estimates (women live longer)")
    deprivation_quintile_shares: list[Share] = F(
        [0.32, 0.18, 0.16, 0.15, 0.19],
        "assumption: Sheffield residents by national IMD quintile (1 = most deprived)",
        min_length=5, max_length=5)
    mortality_per_1000_per_year_by_age_band: PerBand = F(
        [0.3, 0.5, 1.1, 2.6, 6.0, 14.0, 42.0, 150.0],
        "assumption from ONS England & Wales life tables 2011-13 (rounded)")
    growth_per_year_by_age_band: GrowthPerBand = F(
        [0.002, 0.006, 0.004, 0.000, 0.006, 0.015, 0.015, 0.030],
        "Sheffield City Council projections: 65+ grow 42-46% over 25 years (≈1.5%/yr), 85+ "
        "more than double (≈3%/yr); younger bands assumption")
    eq5d_norm_by_age_band: Eq5dPerBand = F(
        [0.93, 0.92, 0.90, 0.87, 0.83, 0.81, 0.76, 0.70],
        "assumption from UK EQ-5D population norms (Kind et al. 1999)")
    practices: PracticesConfig = PracticesConfig()

    @model_validator(mode="after")
    def _shares(self) -> PopulationConfig:
        if any(q > 1000 for q in self.mortality_per_1000_per_year_by_age_band):
            raise ValueError("mortality_per_1000_per_year_by_age_band: a rate per 1,000 cannot "
                             "exceed 1000")
        _check_sums_to_one(self.age_band_shares, "age_band_shares")
        _check_sums_to_one(self.deprivation_quintile_shares, "deprivation_quintile_shares")
        return self


# ----------------------------------------------------------------------------------------------
# conditions and procedures
# ----------------------------------------------------------------------------------------------
class RouteBenefit(Strict):
    primary_care_qaly: float = F(0.0, "assumption: expected QALY gain of GP management", ge=-1,
                                 le=5)
    community_qaly: float = F(0.02, "assumption: expected QALY gain of a community MSK course",
                              ge=-1, le=5)
    specialist_qaly: float = F(0.03, "assumption: expected QALY gain of a specialist opinion",
                               ge=-1, le=5)
    hub_qaly: float = F(0.03, "assumption: expected QALY gain of hub assessment and triage",
                        ge=-1, le=5)


class ConditionConfig(Strict):
    onset_per_1000_per_year: NonNeg = F(source="assumption; calibrated to Jordan 2010/2014 "
                                        "consultation prevalence")
    age_rate_ratio: PerBand = F([1.0] * 8, "assumption: relative onset by age band")
    female_rate_ratio: NonNeg = F(1.0, "assumption: onset in women relative to men")
    prevalence_at_start_per_1000: NonNeg = F(0.0, "assumption: episodes under way at the start")
    prevalent_years_max: float = F(
        7.0, "assumption: episodes under way at the start began up to this many years ago "
        "(uniformly), so chronic disease has progressed as it would have in a steady state",
        ge=0.0, le=40.0)
    chronic: bool = F(False, "whether the episode persists until treated (no natural recovery)")
    median_duration_weeks: float = F(8.0, "assumption: median natural episode length", gt=0,
                                     le=520)
    duration_sigma_log: float = F(0.8, "assumption: spread of episode length (log scale)",
                                  ge=0.0, le=3.0)
    consult_probability: Share = F(0.5, "assumption: share of new episodes seen by a GP")
    consult_delay_weeks_mean: float = F(2.0, "assumption", ge=0.0, le=104)
    reconsult_per_year: NonNeg = F(0.0, "assumption: GP consultations a year while the "
                                   "episode is self-managed (long-lasting conditions)")
    gp_review_probability: Share = F(0.7, "assumption: GP asks to see the patient again; "
                                     "Keele 2009: ~2.1 MSK consultations per consulter a year")
    gp_review_interval_weeks: int = F(3, "assumption: weeks to a GP review", ge=1, le=52)
    eq5d_at_onset_mean: float = F(0.65, "assumption", ge=-0.594, le=1.0)
    eq5d_at_onset_sd: float = F(0.12, "assumption", ge=0.0, le=1.0)
    eq5d_change_per_year: float = F(0.0, "assumption: drift while untreated (negative = "
                                    "worse)", ge=-1.0, le=1.0)
    oxford_joint: Literal["hip", "knee"] | None = F(None, "which Oxford score applies")
    specialty: Literal["orthopaedics", "rheumatology", "pain"] = F(
        "orthopaedics", "the outpatient specialty that sees it")
    procedure: str | None = F(None, "the operation a surgeon may offer (a key of procedures)")
    route_benefit: RouteBenefit = RouteBenefit()
    community_recovery_speedup: float = F(
        0.7, "assumption: remaining episode length multiplied by this after a community course "
        "(STarT Back: stratified care improves 4-month outcomes, Hill 2011)", gt=0.0, le=1.0)
    community_eq5d_gain: float = F(0.03, "assumption: EQ-5D gain at the end of a community "
                                   "course (Roddy 2016: small gains after CATS)", ge=-1, le=1)
    follow_up_benefit_floor_qaly: NonNeg = F(
        0.0, "assumption: lasting value of a follow-up (long-term monitoring, e.g. on biologics)")
    biologic_share: Share = F(0.0, "share of patients under rheumatology started on high-cost "
                              "drugs (anti-TNF); assumption")


    @model_validator(mode="after")
    def _chronic_consults(self) -> ConditionConfig:
        if self.chronic and self.reconsult_per_year <= 0:
            raise ValueError("reconsult_per_year: a chronic condition needs a rate above 0, or "
                             "people who do not consult would never be seen or recover")
        return self


class CaseTypeConfig(Strict):
    """One kind of case within a procedure group (primary or revision, arthroscopic or open):
    what it takes from a theatre session and a ward bed."""

    share: Share = F(1.0, "assumption: share of the group's operations of this type")
    duration_minutes: float = F(
        100.0, "assumption: touch-time (anaesthetic start to leaving theatre) the list is "
        "planned on; for knees, skin-to-skin time averages 89 min (Young 2014, domain_facts "
        "§5) and anaesthesia adds to it", gt=0.0, le=720)
    duration_cv: float = F(0.2, "assumption: spread of the actual touch-time around the plan "
                           "(coefficient of variation)", ge=0.0, le=2.0)
    los_days_mean: NonNeg = F(0.0, "length of stay in days (0 = day case); HEP (Harper 2023): "
                              "p-THR 4.4, p-TKR 4.7, r-THR 6.9, r-TKR 7.2", le=120)
    los_days_sd: NonNeg = F(0.0, "spread of length of stay in days (HEP: p-THR 2.9, p-TKR 2.8)",
                            le=120)


class ProcedureConfig(Strict):
    tariff_gbp: NonNeg = F(source="assumption near 2013/14 PbR tariff (see domain_facts §3)")
    case_types: dict[str, CaseTypeConfig] = F(
        default_factory=lambda: {"standard": CaseTypeConfig()},
        source="the case mix of the group, each with its own theatre time and length of stay "
        "(HEP model: 2 primary hips/knees or 1 revision per 4-h session)")

    @model_validator(mode="after")
    def _case_mix(self) -> ProcedureConfig:
        if not self.case_types:
            raise ValueError("case_types: at least one case type is needed")
        _check_sums_to_one([c.share for c in self.case_types.values()], "case_types shares")
        return self

    post_op_eq5d_mean: float = F(0.80, "NHS Digital PROMs 2018-19", ge=-0.594, le=1.0)
    post_op_eq5d_sd: float = F(0.15, "assumption", ge=0.0, le=1.0)
    offer_threshold_qaly: NonNeg = F(
        0.5, "calibrated: expected QALY gain (over the horizon) below which surgeons rarely "
        "offer the operation: surgical risk, recovery time and clinical thresholds")
    benefit_horizon_years: float = F(5.0, "assumption: years over which a gain is counted in "
                                     "decisions", gt=0.0, le=40)
    recovery_weeks: int = F(26, "PROMs are measured at six months", ge=1, le=104)


# ----------------------------------------------------------------------------------------------
# providers, services and the pathway
# ----------------------------------------------------------------------------------------------
class ProviderConfig(Strict):
    name: str = F(source="display name")
    kind: Literal["nhs_trust", "independent", "out_of_area", "community", "hub"] = F(
        "nhs_trust", "what sort of organisation it is")
    fixed_cost_gbp_per_year: NonNeg = F(0.0, "assumption: costs that do not vary with activity")
    marginal_cost_to_tariff: float = F(0.75, "assumption: marginal cost of one activity as a "
                                       "share of its national tariff", ge=0.0, le=3.0)
    local_price_factor: float = F(1.0, "local variation on tariff (Oldham: 0.9 for some "
                                  "elements)", gt=0.0, le=3.0)


class _ServiceBase(Strict):
    provider: str = F(source="the provider organisation that runs it")
    label: str = F("", "display name")
    enabled: bool = F(True, "switched-off services and their edges leave the graph")
    travel_friction_qaly: NonNeg = F(0.0, "assumption: how much patients dislike travelling "
                                     "there (QALY-equivalent)")
    operating_weeks_per_year: float = F(48.0, "assumption", gt=0.0, le=52.0)
    initial_waiting_list: int = F(0, "assumption: people waiting at the start", ge=0)
    initial_mean_wait_weeks: float = F(8.0, "assumption: mean elapsed wait of the starting list",
                                       ge=0.0, le=104)
    travel_km: NonNeg = F(8.0, "assumption: mean distance a city resident travels there",
                          le=1000)


class HubService(_ServiceBase):
    kind: Literal["hub"] = "hub"
    triage_slots_per_week: NonNeg = F(600.0, "assumption")


class CommunityService(_ServiceBase):
    kind: Literal["community"] = "community"
    imaging_share_at_first: Share = F(0.41, "Roddy 2013 (CATS, Stoke): X-ray 23%, MRI 18%")
    new_patient_slots_per_week: NonNeg = F(500.0, "assumption")
    follow_up_contacts_per_week: NonNeg = F(1500.0, "assumption")
    contacts_per_course_mean: float = F(4.0, "assumption (commonly 3-6 contacts)", ge=1.0,
                                        le=50)
    initial_follow_up_caseload: int = F(0, "assumption: people under care at the start",
                                        ge=0)
    contact_interval_weeks: int = F(2, "assumption", ge=1, le=26)


class OutpatientService(_ServiceBase):
    kind: Literal["outpatient"] = "outpatient"
    specialty: Literal["orthopaedics", "rheumatology", "pain"] = F(
        "orthopaedics", "the specialty of the clinic")
    first_slots_per_week: NonNeg = F(300.0, "assumption")
    follow_up_slots_per_week: NonNeg = F(550.0, "assumption")
    imaging_share_at_first: Share = F(0.34, "Bayam 2017: 34% of GP referrals to orthopaedic "
                                      "clinics sent for investigations")
    follow_up_interval_weeks: int = F(10, "assumption", ge=1, le=104)
    initial_follow_up_caseload: int = F(0, "assumption: people under follow-up at the start",
                                        ge=0)


class TheatreService(_ServiceBase):
    kind: Literal["theatre"] = "theatre"
    sessions_per_week: NonNeg = F(30.0, "assumption: elective MSK sessions planned a week "
                                  "(4-hour sessions, NHSI 2019)")
    theatres: StrictInt | None = F(
        None, "assumption: operating theatres at the site (None = not limited); sessions a "
        "week cannot exceed theatres × sessions per weekday × 5", ge=0, le=200)
    sessions_per_theatre_per_weekday: StrictInt = F(
        2, "morning and afternoon 4-hour sessions (NHSI 2019: day lists of up to three)",
        ge=1, le=3)
    session_minutes: float = F(240.0, "4-hour sessions (NHSI 2019, domain_facts §5)", gt=0.0,
                               le=720)
    turnaround_minutes: NonNeg = F(20.0, "assumption: cleaning and preparing the theatre "
                                   "between cases (with 100-min primaries, 2 cases a session "
                                   "as in the HEP model)", le=240)
    late_start_mean_minutes: NonNeg = F(
        27.3, "NHSI 2019: a third of lists start ≥30 min late; an exponential delay with mean "
        "30/ln 3 = 27.3 min gives that", le=240)
    overrun_allowance_minutes: NonNeg = F(
        60.0, "assumption: how far past the session end a team will run rather than cancel a "
        "prepared patient (uncapped utilisation counts the overrun)", le=240)
    booking_rule: Literal["priority", "fcfs"] = F(
        "priority", "assumption: 'priority' books the case nearest its clinical-priority due "
        "date first (FSSA categories); 'fcfs' books in listing order")
    on_the_day_cancellation_rate: Share = F(
        0.05, "assumption: cases cancelled on the day for the patient's or hospital's reasons "
        "(list overruns and no bed are modelled on top)")
    beds: NonNeg | None = F(None, "assumption: ward beds for elective MSK inpatients (None = "
                            "beds never stop an operation)")
    delayed_discharge_share: Share = F(0.076, "HEP (Harper 2023): 7.6% have a delayed "
                                       "discharge")
    delayed_discharge_mean_days: NonNeg = F(16.5, "HEP (Harper 2023): mean 16.5 days extra",
                                            le=120)
    session_cost_gbp: NonNeg = F(
        1500.0, "assumption: staff and running cost of a 4-hour session beyond the per-case "
        "marginal cost; sessions run above plan cost this, sessions dropped save it")
    operating_weeks_per_year: float = F(46.0, "domain_facts §5 derived defaults: ~46 operating "
                                        "weeks", gt=0.0, le=52.0)

    @model_validator(mode="after")
    def _theatre_room(self) -> TheatreService:
        if self.theatres is not None:
            per_day = self.sessions_per_theatre_per_weekday
            most = self.theatres * per_day * 5
            if self.sessions_per_week > most:
                raise ValueError(f"sessions_per_week: {self.sessions_per_week} is more than "
                                 f"{self.theatres} theatres × {per_day} sessions × 5 weekdays "
                                 f"= {most}; raise theatres or lower the sessions")
        return self


ServiceConfig = Annotated[HubService | CommunityService | OutpatientService | TheatreService,
                          Field(discriminator="kind")]


class PathwayConfig(Strict):
    edges: list[tuple[str, str]] = F(
        source="the routes the city allows; 'gp' is the GP practices' node")
    single_point_of_access: str | None = F(
        None, "a hub every GP referral goes through (Sheffield's prime contract, Bedfordshire, "
        "Oldham's IPH); GP edges to other services are then unused")


# ----------------------------------------------------------------------------------------------
# behaviour and contracts
# ----------------------------------------------------------------------------------------------
class DecisionConfig(Strict):
    logit_scale_qaly: float = F(0.02, "assumption: decision noise (QALY-equivalent)", gt=0.0,
                                le=10)
    friction_qaly: dict[str, float] = F(
        default_factory=dict, source="assumption: effort or reluctance per option kind; "
        "calibrated to referral and follow-up rates")
    surgical_benefit_share: Share = F(
        0.3, "assumption: how much of the expected gain from an operation the decider counts "
        "when sending someone to a surgeon (how well it spots surgical candidates: physio-led "
        "triage converts 61% vs GP referrals 28%, Marks 2024)")


class LeverConfig(Strict):
    """One policy lever a provider organisation can move each quarter."""

    initial: float = F(0.0, "assumption: where the lever starts (today's practice)")
    low: float = F(source="assumption: the lowest setting the organisation can choose")
    high: float = F(source="assumption: the highest setting the organisation can choose")
    step: float = F(source="assumption: how far it can move in a quarter (learning rate)", gt=0)

    @model_validator(mode="after")
    def _order(self) -> LeverConfig:
        if not self.low <= self.initial <= self.high:
            raise ValueError(f"initial: {self.initial} must lie between low ({self.low}) and "
                             f"high ({self.high})")
        return self


def _lever(initial: float, low: float, high: float, step: float) -> LeverConfig:
    return LeverConfig(initial=initial, low=low, high=high, step=step)


class LeversConfig(Strict):
    """The levers every provider organisation has (those that touch none of its services or
    patients stay where they are)."""

    follow_up_shift_qaly: LeverConfig = F(
        _lever(0.0, -0.04, 0.04, 0.004), "assumption: clinic policy on seeing people again, "
        "added to the value of a follow-up at its clinics (QALY-equivalent)")
    listing_shift_qaly: LeverConfig = F(
        _lever(0.0, -0.3, 0.3, 0.03), "assumption: listing threshold policy, added to the value "
        "of listing for surgery at its clinics (negative = a higher bar)")
    community_first_qaly: LeverConfig = F(
        _lever(0.0, -0.04, 0.04, 0.004), "assumption: community-first routing: a higher bar "
        "for sending people on to specialist clinics from its hub and community services")
    self_management_share: LeverConfig = F(
        _lever(0.0, 0.0, 1.0, 0.05), "assumption: share of people leaving its services who "
        "are given supported self-management (PbR pays nothing for it, so it starts at 0)")
    decision_support_share: LeverConfig = F(
        _lever(0.1, 0.0, 1.0, 0.05), "assumption: share of people facing a decision about "
        "surgery at its clinics who are given a patient decision aid")
    gp_support_share: LeverConfig = F(
        _lever(0.0, 0.0, 1.0, 0.05), "assumption: share of GP practices it funds education and "
        "advice for (hub clinicians supporting GPs)")
    theatre_sessions_factor: LeverConfig = F(
        _lever(1.0, 0.8, 1.2, 0.025), "assumption: theatre sessions it runs, relative to its "
        "planned sessions (more sessions cost money; fewer leave lists to grow)")


class AdaptationConfig(Strict):
    """How provider organisations revisit their levers (quarterly, by the net-value rule)."""

    enabled: bool = F(True, "design: providers adapt their levers to the contract")
    interval_weeks: int = F(13, "design: quarterly", ge=1, le=52)
    w_benefit: NonNeg = F(1.0, "design: the organisation's weight on its patients' health gain")
    w_money_qaly_per_gbp: NonNeg = F(
        1.0e-4, "assumption (range 0-3e-4): how much a provider organisation's management "
        "values £1 of margin when setting policy, in patient QALYs (1e-4 = £10,000 per QALY; "
        "boards weigh money more than clinicians at the bedside do)")
    noise_qaly: float = F(
        0.5, "assumption: bounded rationality: the noise (logit scale, QALY-equivalent per "
        "quarter for the whole city; scaled with run.scale) in judging whether a move up, down "
        "or neither is best", gt=0.0, le=1000)
    levers: LeversConfig = LeversConfig()


class PatientsConfig(Strict):
    """Patients' own part: activation, informed choice, attendance."""

    activation_reconsult_effect: NonNeg = F(
        1.5, "assumption: re-consultation rate × exp(−effect × (activation − 0.5)); activated "
        "patients (PAM, Hibbard 2004) manage more themselves")
    self_management_activation_gain: Share = F(
        0.2, "assumption: rise in activation (0-1 scale) from supported self-management "
        "(e.g. ESCAPE-pain, Hurley 2007)")
    self_management_eq5d_gain: float = F(
        0.01, "assumption: EQ-5D gain from supported self-management (ESCAPE-pain: small "
        "improvements in function)", ge=0.0, le=0.5)
    self_management_cost_gbp: NonNeg = F(
        50.0, "assumption: cost of supported self-management per person (group classes)")
    uninformed_surgery_optimism: float = F(
        1.06, "calibrated: without a decision aid patients weigh the expected gain from an "
        "operation this much above their informed view; set so that full decision-aid uptake "
        "gives a relative risk of choosing major elective surgery ≈ 0.86 (Stacey et al., "
        "Cochrane 2017: RR 0.86, 95% CI 0.75-1.00)", ge=1.0, le=5.0)
    decision_aid_cost_gbp: NonNeg = F(
        40.0, "assumption: cost of providing a decision aid and the conversation around it")
    did_not_attend_rate: Share = F(
        0.07, "assumption (NHS outpatient DNA rates ~7%): share of booked attendances missed")
    discharge_after_missed_first: Share = F(
        0.5, "assumption: share of people missing a first appointment who are sent back to "
        "their GP rather than rebooked (a 'ping-pong' return)")


class GpSupportConfig(Strict):
    """Education and advice for GPs from hub clinicians, where a provider funds it."""

    friction_qaly: NonNeg = F(
        0.012, "assumption: supported GPs need this much more expected gain before referring "
        "to a hub or specialist clinic (fewer inappropriate referrals: Speed 2005 found 42% of "
        "orthopaedic referrals not appropriate)")
    cost_gbp_per_practice_per_year: NonNeg = F(
        8000.0, "assumption: a few sessions a month of an extended-scope practitioner")


class GamingConfig(Strict):
    """Risks of paying for outcomes. Each is off (0) by default; each is a lever."""

    cream_skimming_qaly: NonNeg = F(
        0.0, "assumption (range 0-0.5): a provider paid on outcomes holds back people whose "
        "expected gain is below the measure's current mean, by this much per unit shortfall "
        "relative to the mean (0 = off)", le=10)
    reported_outcome_inflation: float = F(
        0.0, "assumption (range 0-0.3): reported outcome gains exceed the true gains by this "
        "share (measure gaming: selective follow-up, coaching); true gains are still recorded "
        "(0 = off)", ge=0.0, le=2.0)


class BehaviourConfig(Strict):
    w_benefit: NonNeg = F(1.0, "design: weight on the patient's expected health gain")
    w_money_qaly_per_gbp: NonNeg = F(
        2.0e-5, "assumption (range 0-1e-4): how much a decider values £1 of its own margin, in "
        "patient QALYs; 2e-5 = £50,000 per QALY. Direction checked against Gosden 2000, Hickson "
        "1987 (+22-30% visits under fee-for-service)")
    surgery_preference_sd_log: float = F(
        0.5, "assumption: spread of patients' preference for surgery", ge=0.0, le=3.0)
    # the defaults below are Sheffield's hand calibration before `msksim calibrate`, which
    # Bedfordshire and Oldham still take; configs/sheffield.yaml sets Sheffield's fitted values
    gp_refer: DecisionConfig = DecisionConfig(friction_qaly={
        "manage": 0.0, "community": 0.045, "outpatient": 0.06, "hub": 0.045})
    hub_route: DecisionConfig = DecisionConfig(surgical_benefit_share=1.0, friction_qaly={
        "back_to_gp": 0.0, "community": 0.01, "outpatient": 0.04})
    community_discharge: DecisionConfig = DecisionConfig(
        logit_scale_qaly=0.01, surgical_benefit_share=1.0,
        friction_qaly={"discharge": 0.0, "outpatient": 0.05})
    outpatient_outcome: DecisionConfig = DecisionConfig(
        logit_scale_qaly=0.01, friction_qaly={"discharge": 0.0, "follow_up": 0.035, "list": 0.0})
    follow_up_benefit_qaly: NonNeg = F(0.052, "calibrated: expected gain of one more follow-up "
                                       "(with the decay, ~1.8 follow-ups per first)")
    follow_up_benefit_decay: Share = F(0.985, "calibrated: each further follow-up is worth this "
                                       "share of the previous one")
    wait_disutility_qaly_per_week: NonNeg = F(0.002, "assumption: what a week's wait costs "
                                              "a patient when choosing where to go")
    adaptation: AdaptationConfig = AdaptationConfig()
    patients: PatientsConfig = PatientsConfig()
    gp_support: GpSupportConfig = GpSupportConfig()
    gaming: GamingConfig = GamingConfig()


class OutcomeMeasure(Strict):
    measure: Literal["eq5d_gain", "oxford_hip_gain", "oxford_knee_gain", "within_18_weeks"] = F(
        source="Sheffield GB paper 2013 Appendix A outcome domains (PROMs, waits)")
    floor: float = F(source="assumption: no payment at or below this")
    target: float = F(source="assumption: full payment at or above this")
    weight: Share = F(source="assumption: share of the incentive pool")

    @model_validator(mode="after")
    def _order(self) -> OutcomeMeasure:
        if self.target <= self.floor:
            raise ValueError(f"target: {self.target} must be above floor ({self.floor})")
        return self


class TariffConfig(Strict):
    outpatient_first_gbp: dict[str, NonNeg] = F(
        {"orthopaedics": 150.0, "rheumatology": 190.0, "pain": 160.0},
        "JBJS 2010 (T&O first £147, 2007/08); others prior from domain_facts §3 (R)")
    outpatient_follow_up_gbp: dict[str, NonNeg] = F(
        {"orthopaedics": 85.0, "rheumatology": 105.0, "pain": 100.0},
        "JBJS 2010 (T&O follow-up £73, 2007/08) uprated; others prior (R)")
    community_contact_gbp: NonNeg = F(55.0, "PSSRU physiotherapist £47/contact hour, plus "
                                      "overheads (assumption)")
    hub_triage_gbp: NonNeg = F(35.0, "assumption")
    imaging_gbp: NonNeg = F(110.0, "assumption: a mix of X-ray (~£30) and MRI (~£150) "
                            "requested at a first assessment")
    biologic_gbp_per_year: NonNeg = F(9000.0, "assumption: anti-TNF drug cost (Sheffield GB "
                                      "paper names anti-TNF growth as an envelope pressure)")


def _default_measures() -> list[OutcomeMeasure]:
    return [
        OutcomeMeasure(measure="oxford_hip_gain", floor=16.0, target=22.0, weight=0.3),
        OutcomeMeasure(measure="oxford_knee_gain", floor=13.0, target=18.0, weight=0.3),
        OutcomeMeasure(measure="within_18_weeks", floor=0.80, target=0.92, weight=0.4),
    ]


class CobicConfig(Strict):
    prime_provider: str = F(source="Sheffield CCG March 2014: STHFT as prime contractor")
    baseline_spend_gbp_per_year: NonNeg = F(40_000_000.0, "Sheffield CCG 2013: 'broadly stable "
                                            "spend ... around £40m per year'")
    inflation_per_year: float = F(0.025, "assumption: NHS inflation built into tariff", ge=-0.2,
                                  le=0.5)
    efficiency_per_year: float = F(0.04, "assumption: national tariff efficiency requirement",
                                   ge=0.0, le=0.5)
    commissioner_retained_share: Share = F(0.02, "Sheffield GB paper: part set aside for the "
                                           "CCG's QIPP (share assumption)")
    outcome_incentive_share_by_year: list[Share] = F(
        [0.025, 0.05, 0.075, 0.10, 0.10],
        "assumption between Bedfordshire (~3-5% at risk) and UnitingCare (0→10→15%)",
        min_length=1)
    subcontract_price_share: float = F(0.90, "Oldham: 90% of national tariff for some elements",
                                       gt=0.0, le=2.0)
    outcome_measures: list[OutcomeMeasure] = F(
        default_factory=_default_measures,
        source="assumption from national PROMs averages (OHS +20-22, OKS +15-16; Oldham raised "
        "knee EQ-5D gain above the national average) and the 92% RTT standard",
        min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> CobicConfig:
        _check_sums_to_one([m.weight for m in self.outcome_measures],
                           "outcome_measures: the weights")
        worst = max(self.outcome_incentive_share_by_year)
        if self.commissioner_retained_share + worst > 1.0:
            raise ValueError(f"commissioner_retained_share: {self.commissioner_retained_share} "
                             f"plus an incentive share of {worst} leaves nothing to pay as "
                             f"capitation")
        return self


class BlockConfig(Strict):
    """A fixed annual sum per provider, whatever the activity."""

    annual_gbp: dict[str, NonNeg] = F(
        default_factory=dict, source="the fixed sum each provider is paid a year; a provider "
        "not named is paid its status-quo income (what the warm-up year paid it), as "
        "Sheffield's and Bedfordshire's contracts became in practice")
    uplift_per_year: float = F(-0.015, "assumption: inflation 2.5% less efficiency 4% a year",
                               ge=-0.5, le=0.5)


class BlendedConfig(Strict):
    """A fixed part, a variable part at (a share of) tariff, and an outcome part."""

    fixed_share: Share = F(0.5, "assumption: share of each provider's status-quo income paid "
                           "as a fixed sum")
    variable_price_share: float = F(
        0.5, "assumption: share of tariff paid per activity on top (Oldham's IPH: 90% of "
        "national tariff for some elements)", ge=0.0, le=2.0)
    outcome_share: Share = F(0.015, "Oldham: CQUIN outcome payment of 1.5% of contract value "
                             "(seed paper; domain_facts: national CQUIN was 1.5% in 2010-12)")
    uplift_per_year: float = F(-0.015, "assumption: inflation 2.5% less efficiency 4% a year",
                               ge=-0.5, le=0.5)
    outcome_measures: list[OutcomeMeasure] = F(
        default_factory=_default_measures, source="assumption: as the COBIC measures",
        min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> BlendedConfig:
        _check_sums_to_one([m.weight for m in self.outcome_measures],
                           "outcome_measures: the weights")
        return self


class ContractConfig(Strict):
    rule: ContractRule = F("pbr", "the payment rule in force")
    commissioner: str = F("Commissioner", "display name of the commissioner")
    tariff: TariffConfig = TariffConfig()
    cobic: CobicConfig | None = F(None, "the capitated outcome-based contract, if offered")
    block: BlockConfig = BlockConfig()
    blended: BlendedConfig = BlendedConfig()
    envelope_age_weights: PerBand = F(
        [0.3, 0.4, 0.6, 0.9, 1.3, 1.8, 2.2, 2.2],
        "assumption: MSK spend per head by age band relative to the adult average (the CCG "
        "applied projected growth to its spend-by-age profile)")


class WaitingListConfig(Strict):
    """How theatre waiting lists behave: clinical priority, deferrals, removals, and offers of
    another provider."""

    priority_shares: list[Share] = F(
        [0.1, 0.45, 0.45], "assumption: share of listings in FSSA priority P2 (within a "
        "month), P3 (within 3 months), P4 (can wait longer)", min_length=3, max_length=3)
    priority_due_weeks: list[StrictInt] = F(
        [4, 13, 26], "FSSA clinical prioritisation: P2 within 1 month, P3 within 3 months; P4 "
        "booked by 26 weeks (assumption)", min_length=3, max_length=3)
    deferral_share: Share = F(0.05, "assumption: listed patients who ask to wait (holiday, "
                              "work, caring) before they can be booked")
    deferral_weeks_mean: NonNeg = F(6.0, "assumption: how long they ask to wait", le=52)
    clock_pauses_for_deferral: bool = F(
        False, "RTT rules since October 2015 do not pause the clock for a patient's own delay "
        "(set true for the earlier adjustment rules)")
    removal_rate_per_year: NonNeg = F(
        0.08, "assumption: removals other than treatment a year per person waiting (no longer "
        "wanted, treated elsewhere, unfit), found by validating the list", le=5)
    offer_other_provider: bool = F(
        True, "NHS Constitution: a patient waiting beyond 18 weeks may ask to be offered an "
        "alternative provider; a closed theatre's list is offered elsewhere at once")
    offer_after_weeks: StrictInt = F(18, "RTT standard: offers go to those waiting longer",
                                     ge=0, le=104)
    offer_min_saving_weeks: NonNeg = F(6.0, "assumption: the wait saved that makes an offer "
                                       "worth making", le=104)
    offer_interval_weeks: StrictInt = F(4, "assumption: how often lists are validated and "
                                        "offers made", ge=1, le=52)
    offer_logit_scale_qaly: float = F(0.01, "assumption: how varied patients are in taking an "
                                      "offer (QALY-equivalent noise)", gt=0.0, le=10)

    @model_validator(mode="after")
    def _shares(self) -> WaitingListConfig:
        _check_sums_to_one(self.priority_shares, "priority_shares")
        return self


class CapacityChange(Strict):
    """A service's capacity changed from one week (e.g. a provider's theatres closing)."""

    service: str = F(source="the service whose capacity changes")
    from_week: StrictInt = F(0, "first contract week it applies (0 = the contract start; "
                             "negative = during the warm-up)", ge=-520, le=2600)
    to_week: StrictInt | None = F(None, "last week it applies (None = to the end)", ge=-520,
                                  le=2600)
    factor: NonNeg = F(source="capacity multiplied by this (0 = closed)", le=20)


class WinterConfig(Strict):
    start_week_of_year: StrictInt = F(
        35, "assumption: contract years start in April, so week 35 is early December", ge=0,
        le=51)
    weeks: StrictInt = F(13, "assumption: December to February", ge=0, le=52)
    session_factor: float = F(1.0, "assumption: share of elective sessions kept in winter "
                              "(beds go to emergencies); 1 = no winter pressure", ge=0.0,
                              le=1.0)
    extra_cancellation_rate: Share = F(0.0, "assumption: extra on-the-day cancellations in "
                                       "winter (counted with patient or hospital reasons)")


class CapacityConfig(Strict):
    changes: list[CapacityChange] = F(
        default_factory=list, source="scenario: capacity removed, reduced or added from a week")
    winter: WinterConfig = WinterConfig()


class RunConfig(Strict):
    warmup_rule: ContractRule = F(
        "pbr", "the payment rule during the warm-up: the city's status quo before the contract")
    seed: StrictInt = F(1, "base seed", ge=0, le=2**63 - 1)
    years: StrictInt = F(5, "contract years simulated after the warm-up", ge=1, le=50)
    warmup_weeks: StrictInt = F(52, "assumption: weeks run first and excluded from results",
                                ge=0, le=520)
    scale: float = F(1.0, "fraction of the population simulated (capacities scale with it)",
                     gt=0.0, le=10.0)


class CalibrationParameter(Strict):
    """One uncertain setting the calibration may move, within a plausible range."""

    path: str = F(source="design: the setting's dotted path, e.g. "
                  "behaviour.follow_up_benefit_qaly or procedures.hip_replacement."
                  "offer_threshold_qaly", min_length=1)
    low: float = F(source="assumption: the lowest plausible value")
    high: float = F(source="assumption: the highest plausible value")

    @model_validator(mode="after")
    def _range(self) -> CalibrationParameter:
        if not self.low < self.high:
            raise ValueError(f"high: {self.high} must be above low ({self.low})")
        return self


class CalibrationConfig(Strict):
    """What `msksim calibrate` fits: uncertain settings, the published targets and the effort."""

    parameters: list[CalibrationParameter] = F(
        default_factory=list, source="design: the uncertain settings (empty = msksim's "
        "built-in set for the default city)")
    targets: str = F("configs/targets/sheffield.yaml", "design: the targets file (relative "
                     "to the config file, the working folder or the repository)",
                     min_length=1)
    replications: StrictInt = F(2, "design: runs per evaluation (seeds 1..N, the same for "
                                "every evaluation)", ge=1, le=100)
    scale: float = F(0.1, "design: fraction of the population simulated while fitting",
                     gt=0.0, le=10.0)
    years: StrictInt = F(3, "design: contract years simulated while fitting", ge=1, le=50)
    budget: StrictInt = F(40, "design: model evaluations the optimiser may spend", ge=5,
                          le=100_000)
    seed: StrictInt = F(1, "design: the optimiser's seed", ge=0, le=2**32 - 1)


def setting_at(cfg: BaseModel, path: str) -> Any:
    """The value of the setting at dotted `path` (models by field, mappings by key); raise
    KeyError when there is no such setting."""
    node: Any = cfg
    for part in path.split("."):
        if isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


class CityConfig(Strict):
    name: str = F(source="the city")
    description: str = F("", "what this config represents")
    population: PopulationConfig = PopulationConfig()
    conditions: dict[str, ConditionConfig] = F(source="MSK conditions (ICD-10 M00-M99)")
    procedures: dict[str, ProcedureConfig] = F(source="operations offered")
    providers: dict[str, ProviderConfig] = F(source="provider organisations")
    services: dict[str, ServiceConfig] = F(source="services: nodes of the pathway graph")
    pathway: PathwayConfig = F(source="the routes between services")
    behaviour: BehaviourConfig = BehaviourConfig()
    waiting_list: WaitingListConfig = WaitingListConfig()
    capacity: CapacityConfig = CapacityConfig()
    contract: ContractConfig = ContractConfig()
    run: RunConfig = RunConfig()
    calibration: CalibrationConfig = CalibrationConfig()

    @model_validator(mode="after")
    def _references(self) -> CityConfig:
        if not self.conditions:
            raise ValueError("conditions: at least one condition is needed")
        if len(self.conditions) > MAX_CONDITIONS:
            raise ValueError(f"conditions: {len(self.conditions)} given; at most "
                             f"{MAX_CONDITIONS} are allowed")
        for name, cond in self.conditions.items():
            if cond.procedure is not None and cond.procedure not in self.procedures:
                raise ValueError(f"conditions.{name}.procedure: '{cond.procedure}' is not a "
                                 f"procedure; allowed: {sorted(self.procedures)}")
        for name, svc in self.services.items():
            if name == GP_NODE:
                raise ValueError(f"services.{name}: '{GP_NODE}' is reserved for GP practices")
            if svc.provider not in self.providers:
                raise ValueError(f"services.{name}.provider: '{svc.provider}' is not a provider; "
                                 f"allowed: {sorted(self.providers)}")
        nodes = set(self.services) | {GP_NODE}
        for i, (a, b) in enumerate(self.pathway.edges):
            for end in (a, b):
                if end not in nodes:
                    raise ValueError(f"pathway.edges.{i}: '{end}' in [{a}, {b}] is not a "
                                     f"service; allowed: {sorted(nodes)}")
        tariff = self.contract.tariff
        for name, svc in self.services.items():
            if isinstance(svc, OutpatientService):
                for table in ("outpatient_first_gbp", "outpatient_follow_up_gbp"):
                    if svc.specialty not in getattr(tariff, table):
                        raise ValueError(f"contract.tariff.{table}: no price for "
                                         f"'{svc.specialty}' (needed by services.{name})")
        if self.contract.cobic is not None:
            prime = self.contract.cobic.prime_provider
            if prime not in self.providers:
                raise ValueError(f"contract.cobic.prime_provider: '{prime}' is not a provider; "
                                 f"allowed: {sorted(self.providers)}")
        for i, ch in enumerate(self.capacity.changes):
            if ch.service not in self.services:
                raise ValueError(f"capacity.changes.{i}.service: '{ch.service}' is not a "
                                 f"service; allowed: {sorted(self.services)}")
            if ch.to_week is not None and ch.to_week < ch.from_week:
                raise ValueError(f"capacity.changes.{i}.to_week: {ch.to_week} is before "
                                 f"from_week {ch.from_week}")
        for name, svc in self.services.items():
            if not (isinstance(svc, TheatreService) and svc.enabled):
                continue
            for pname, proc in self.procedures.items():
                for cname, case in proc.case_types.items():
                    if case.duration_minutes + svc.turnaround_minutes > svc.session_minutes:
                        raise ValueError(
                            f"procedures.{pname}.case_types.{cname}.duration_minutes: "
                            f"{case.duration_minutes} + {svc.turnaround_minutes} turnaround does "
                            f"not fit a {svc.session_minutes}-minute session at services.{name}")
            if svc.theatres is not None:
                most = svc.theatres * svc.sessions_per_theatre_per_weekday * 5
                for i, ch in enumerate(self.capacity.changes):
                    if ch.service == name and svc.sessions_per_week * ch.factor > most + 1e-9:
                        raise ValueError(
                            f"capacity.changes.{i}.factor: {ch.factor} × {svc.sessions_per_week} "
                            f"sessions is more than {name}'s {svc.theatres} theatres can run "
                            f"({most} a week); raise services.{name}.theatres")
        for key in self.contract.block.annual_gbp:
            if key not in self.providers:
                raise ValueError(f"contract.block.annual_gbp.{key}: not a provider; allowed: "
                                 f"{sorted(self.providers)}")
        if self.contract.rule == "cobic" and self.contract.cobic is None:
            raise ValueError("contract.rule: 'cobic' needs a contract.cobic section")
        has_theatre = any(s.kind == "theatre" and s.enabled for s in self.services.values())
        if has_theatre and not self.procedures:
            raise ValueError("procedures: a city with theatres needs at least one procedure")
        if self.population.registered_adults * self.run.scale > 20_000_000:
            raise ValueError(f"run.scale: {self.run.scale} × {self.population.registered_adults} "
                             f"adults is more than 20 million people to simulate")
        if self.run.warmup_rule == "cobic" and self.contract.cobic is None:
            raise ValueError("run.warmup_rule: 'cobic' needs a contract.cobic section")
        for table in ("conditions", "procedures", "providers", "services"):
            for key in getattr(self, table):
                if not NAME_PATTERN.match(key):
                    raise ValueError(f"{table}.{key}: a name must be lower-case letters, digits "
                                     f"and underscores, starting with a letter")
        self._check_frictions()
        self._check_calibration()
        return self

    def _check_calibration(self) -> None:
        for i, par in enumerate(self.calibration.parameters):
            try:
                value = setting_at(self, par.path)
            except KeyError:
                raise ValueError(f"calibration.parameters.{i}.path: '{par.path}' is not a "
                                 f"setting of this config") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"calibration.parameters.{i}.path: '{par.path}' is not a "
                                 f"number setting")

    def _check_frictions(self) -> None:
        kinds = {"hub", "community", "outpatient"}
        allowed = {
            "gp_refer": {"manage"} | kinds | set(self.services),
            "hub_route": {"back_to_gp"} | kinds | set(self.services),
            "community_discharge": {"discharge"} | kinds | set(self.services),
            "outpatient_outcome": {"discharge", "follow_up", "list"},
        }
        for decision, words in allowed.items():
            for key in getattr(self.behaviour, decision).friction_qaly:
                if key not in words:
                    raise ValueError(f"behaviour.{decision}.friction_qaly.{key}: unknown option; "
                                     f"allowed: {sorted(words)}")


# ----------------------------------------------------------------------------------------------
# loading, overlays and error messages
# ----------------------------------------------------------------------------------------------
STATUS_QUO_MIN_WEEKS = 13


def check_rule_available(cfg: CityConfig, rule: str) -> None:
    """Raise a one-line ConfigError if `rule` cannot run on this config."""
    if rule not in CONTRACT_RULES:
        raise ConfigError(f"contract: {rule!r} is not a payment rule; allowed: "
                          f"{list(CONTRACT_RULES)}")
    if rule == "cobic" and cfg.contract.cobic is None:
        raise ConfigError("contract.cobic: this config has no COBIC section, so the cobic rule "
                          "is not available")
    if rule in ("block", "blended") and cfg.run.warmup_weeks < STATUS_QUO_MIN_WEEKS:
        missing = sorted(set(cfg.providers) - set(cfg.contract.block.annual_gbp))
        if rule == "blended" or missing:
            raise ConfigError(
                f"run.warmup_weeks: {cfg.run.warmup_weeks} is too short to measure the "
                f"status-quo income a {rule} contract is set from; use at least "
                f"{STATUS_QUO_MIN_WEEKS} weeks"
                + (f" or give contract.block.annual_gbp for {missing}" if rule == "block"
                   else ""))


def deep_merge(base: dict, overlay: dict) -> dict:
    """Merge `overlay` into a copy of `base`: mappings key by key, everything else replaced."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping safely, with a one-line ConfigError for every way it can go wrong."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {str(p)!r} is a folder, not a YAML file")
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {str(p)!r} is larger than {MAX_CONFIG_BYTES} bytes")
    return parse_yaml(p.read_bytes(), str(p))


def parse_yaml(raw: bytes, shown: str) -> dict:
    """YAML text (a file's bytes) as a mapping, parsed safely (no code, no tags); `shown`
    names the file in the one-line ConfigError for every way it can go wrong."""
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"config file {shown!r} is not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {shown!r} is not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"config file {shown!r} is nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {shown!r} must hold a mapping of settings, not "
                          f"{type(data).__name__}")
    return data


_SERVICE_KINDS = ("hub", "community", "outpatient", "theatre")


def _describe_error(exc: ValidationError, data: dict) -> str:
    err = exc.errors(include_url=False)[0]
    loc = [str(x) for x in err["loc"]]
    # pydantic adds the union member's tag after the service's name: services.<name>.<kind>...
    if len(loc) >= 3 and loc[0] == "services" and loc[2] in _SERVICE_KINDS:
        del loc[2]
    field = ".".join(loc) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return f"{field}: unknown setting (check the spelling; allowed settings are in the schema)"
    if err["type"] == "missing":
        return f"{field}: required setting is missing"
    value = err.get("input")
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
        if not msg.split(" ")[0].endswith(":"):
            return f"{field}: {msg}"
        # a validator naming one of its own fields: put the model's path in front
        return msg if not loc else f"{field}.{msg}"
    return f"{field}: {shown} is not allowed ({msg})"


def validate_config(data: dict) -> CityConfig:
    """Validate a plain mapping into the config tree, raising a one-line ConfigError."""
    try:
        return CityConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_error(exc, data)) from None


def load_config(path: str | Path | None = None,
                overlays: list[dict | str | Path] | None = None) -> CityConfig:
    """Load a city config (the built-in Sheffield when `path` is None) with optional overlays."""
    data = read_yaml(path if path is not None else BUILTIN_CONFIG)
    for overlay in overlays or []:
        extra = overlay if isinstance(overlay, dict) else read_yaml(overlay)
        data = deep_merge(data, extra)
    return validate_config(data)


def config_schema() -> dict:
    """The JSON Schema of a city config."""
    return CityConfig.model_json_schema()
