"""A plain-Mesa reference model of the city's core MSK pathway, for timing msksim against.

msksim keeps every adult as a row of numpy arrays and does each week's work on whole arrays.
This module builds the same city the way the Mesa documentation and examples build models: one
`Person` agent per adult, each deciding its own week in Python (`Person.step`), activated in
random order by `model.agents.shuffle_do("step")`, with the services run by the model and a
`mesa.DataCollector` recording the week. It is meant to be a fair, competently written Mesa
model: per-agent probabilities are looked up once, queues are `deque`s, counters are kept as
the agents change state rather than by scanning the population.

The pathway is the core of msksim's: an adult falls ill with an MSK condition, may consult
their GP (again later if the GP reviews them or the condition brings them back), may be
referred to one pooled orthopaedic outpatient queue, is seen first come first served up to the
week's clinic slots, may be listed for surgery, waits on one pooled theatre list served up to
the week's theatre minutes, and recovers. The commissioner pays the provider the national
tariff for each first appointment and each operation (Payment by Results).

What it leaves out, relative to msksim: follow-up appointments; community MSK, the hub,
rheumatology and pain clinics (a GP referral there only takes the person out of the GP's
care for a while); separate providers and patients' choice between them; the net-value rule
behind every decision (a fixed share per condition instead, measured from msksim: see
`REFERRED_SHARE_OF_CONSULTATIONS`); did-not-attend, clinical priority, on-the-day
cancellations, beds and session packing (theatre time is pooled over the week); outcomes and
QALYs; deaths, births and ageing; starting waiting lists; provider adaptation and every other
payment rule. So it does less work per simulated person than msksim does, which makes a speed
comparison against it conservative.

Its parameters come from msksim's default city config (`msksim.config.load_config()`,
Sheffield): the age and sex structure, onset rates by condition, age band and sex (normalised
as msksim does, so the adult average is the configured rate), episodes under way at the start,
episode lengths, consulting, GP reviews and re-consulting, orthopaedic first-appointment slots,
theatre sessions and minutes, case mix and operating times, recovery time and tariffs.
Capacities are for the whole city in the config and are scaled by
population / `population.registered_adults`, as msksim scales them by `run.scale`.

    python benchmarks/mesa_reference.py --population 100000 --weeks 312 --seed 1
"""

from __future__ import annotations

import argparse
import enum
import math
import time
from collections import deque
from dataclasses import dataclass

import mesa

from msksim.config import (
    AGE_BAND_LOWER_YEARS,
    CityConfig,
    OutpatientService,
    TheatreService,
    load_config,
)

WEEKS_PER_YEAR = 52
#: the 85+ band has no upper bound in the config; ages are drawn over 85-96 (as msksim does)
OLDEST_BAND_WIDTH_YEARS = 12

# msksim makes the referral and listing choices with its net-value rule, so the config holds no
# share to read. These three are measured from msksim's default run (Sheffield, Payment by
# Results, seed 1, the five contract years), by condition: attended orthopaedic first
# appointments per GP consultation (including referrals made through community MSK); GP
# referrals per consultation to services this model leaves out (community MSK, rheumatology,
# pain clinics), after which people come back to their GP only at their condition's
# re-consultation rate, as in msksim when those services discharge them; and theatre listings
# per orthopaedic first appointment. A condition not named has a share of 0.
REFERRED_SHARE_OF_CONSULTATIONS: dict[str, float] = {
    "back_pain": 0.086,
    "neck_pain": 0.054,
    "shoulder_pain": 0.133,
    "hip_oa": 0.309,
    "knee_oa": 0.343,
    "hand_wrist": 0.156,
    "foot_ankle": 0.136,
}
REFERRED_ELSEWHERE_SHARE_OF_CONSULTATIONS: dict[str, float] = {
    "back_pain": 0.285,
    "neck_pain": 0.236,
    "shoulder_pain": 0.201,
    "hip_oa": 0.170,
    "knee_oa": 0.365,
    "hand_wrist": 0.094,
    "foot_ankle": 0.125,
    "inflammatory_arthritis": 0.961,
    "gout": 0.126,
    "osteoporosis": 0.143,
    "chronic_widespread_pain": 0.201,
}
LISTED_SHARE_AT_FIRST: dict[str, float] = {
    "back_pain": 0.048,
    "shoulder_pain": 0.122,
    "hip_oa": 0.506,
    "knee_oa": 0.363,
    "hand_wrist": 0.467,
    "foot_ankle": 0.359,
}
#: the specialty of the one outpatient queue modelled, and the tariff it is paid at
SPECIALTY = "orthopaedics"


class State(enum.Enum):
    """Where a person is. Everyone is in exactly one state."""

    WELL = "well"
    ILL = "ill"  # an episode managed at home or by the GP
    WAITING_OUTPATIENT = "waiting_outpatient"
    WAITING_THEATRE = "waiting_theatre"
    RECOVERING = "recovering"  # after an operation


@dataclass(frozen=True)
class Procedure:
    name: str
    tariff_gbp: float
    case_minutes: tuple[float, ...]  # planned operating time of each case type
    case_shares: tuple[float, ...]
    recovery_weeks: int


@dataclass(frozen=True)
class Condition:
    name: str
    chronic: bool  # no natural recovery: lasts until treated
    median_duration_weeks: float
    duration_sigma_log: float
    consult_probability: float
    consult_delay_weeks_mean: float
    reconsult_per_week: float
    gp_review_probability: float
    gp_review_interval_weeks: int
    referred_share: float  # of GP consultations, to the orthopaedic queue
    referred_elsewhere_share: float  # of GP consultations, to services not modelled here
    listed_share: float
    procedure: Procedure | None


def _relative_rates(age_ratio: list[float], female_ratio: float, band_shares: list[float],
                    female_shares: list[float]) -> list[tuple[float, float]]:
    """Rate multipliers by (age band, male/female), scaled so the adult average is 1."""
    mean = sum(share * a * (1.0 - f + f * female_ratio)
               for share, a, f in zip(band_shares, age_ratio, female_shares, strict=True))
    mean = max(mean, 1e-12)
    return [(a / mean, a * female_ratio / mean) for a in age_ratio]


class Person(mesa.Agent):
    """One adult of the city."""

    def __init__(self, model: ReferenceCity, age_years: int, age_band: int, female: bool):
        super().__init__(model)
        self.age_years = age_years
        self.age_band = age_band
        self.female = female
        # looked up once: an adult's weekly chance of an MSK episode depends on age band and sex
        self.onset_probability_week = model.onset_probability_week[age_band][female]
        self.state = State.WELL
        self.condition: Condition | None = None
        self.weeks_ill = 0
        self.episode_weeks: int | None = None  # natural episode length (None: chronic)
        self.next_consult_week: int | None = None
        self.wait_weeks = 0  # weeks on the current waiting list
        self.case_minutes = 0.0  # planned operating time once listed
        self.recovery_weeks_left = 0

    def step(self) -> None:
        if self.state is State.WELL:
            if self.random.random() < self.onset_probability_week:
                self.fall_ill(self.model.draw_condition(self.age_band, self.female))
            return
        if self.state is State.RECOVERING:
            self.recovery_weeks_left -= 1
            if self.recovery_weeks_left <= 0:
                self.get_well()
            return
        # an episode under way, at home or on a waiting list
        self.weeks_ill += 1
        if self.state is not State.ILL:
            self.wait_weeks += 1
        if self.episode_weeks is not None and self.weeks_ill >= self.episode_weeks:
            self.get_well()  # self-limiting episodes end, on a waiting list or not
        elif (self.state is State.ILL and self.next_consult_week is not None
              and self.model.week >= self.next_consult_week):
            self.consult_gp()

    def fall_ill(self, condition: Condition) -> None:
        self.state = State.ILL
        self.condition = condition
        self.weeks_ill = 0
        if condition.chronic:
            self.episode_weeks = None
        else:
            weeks = self.random.lognormvariate(math.log(condition.median_duration_weeks),
                                               condition.duration_sigma_log)
            self.episode_weeks = max(1, round(weeks))
        if self.random.random() < condition.consult_probability:
            delay_weeks = (self.random.expovariate(1.0 / condition.consult_delay_weeks_mean)
                           if condition.consult_delay_weeks_mean > 0 else 0.0)
            self.next_consult_week = self.model.week + 1 + int(delay_weeks)
        else:
            self.schedule_reconsultation()
        self.model.n_ill += 1

    def schedule_reconsultation(self) -> None:
        """Long-lasting conditions bring people back to their GP at the condition's rate."""
        rate = self.condition.reconsult_per_week
        self.next_consult_week = (self.model.week + 1 + int(self.random.expovariate(rate))
                                  if rate > 0 else None)

    def consult_gp(self) -> None:
        self.model.gp_consultations_total += 1
        condition = self.condition
        u = self.random.random()
        if u < condition.referred_share:
            self.next_consult_week = None
            self.model.refer_to_outpatients(self)
        elif u < condition.referred_share + condition.referred_elsewhere_share:
            self.schedule_reconsultation()  # care this model leaves out, then back to the GP
        elif self.random.random() < condition.gp_review_probability:
            self.next_consult_week = self.model.week + condition.gp_review_interval_weeks
        else:
            self.schedule_reconsultation()

    def join_list(self, state: State) -> None:
        self.state = state
        self.wait_weeks = 0

    def return_to_gp(self) -> None:
        """Discharged from clinic without an operation: back to the GP's care."""
        self.state = State.ILL
        self.schedule_reconsultation()

    def start_recovery(self, recovery_weeks: int) -> None:
        self.state = State.RECOVERING
        self.recovery_weeks_left = recovery_weeks
        self.model.n_ill -= 1

    def get_well(self) -> None:
        if self.state is State.WAITING_OUTPATIENT:
            self.model.outpatient_queue.remove(self)
        elif self.state is State.WAITING_THEATRE:
            self.model.theatre_queue.remove(self)
        if self.state is not State.RECOVERING:
            self.model.n_ill -= 1
        self.state = State.WELL
        self.condition = None
        self.episode_weeks = None
        self.next_consult_week = None


class ReferenceCity(mesa.Model):
    """The city's adults, its GPs, one orthopaedic outpatient queue and one theatre list."""

    def __init__(self, population: int = 100_000, seed: int = 1,
                 config: CityConfig | None = None):
        super().__init__(rng=seed)
        cfg = config if config is not None else load_config()
        pop = cfg.population
        scale = population / pop.registered_adults  # capacities in the config are city-wide
        self.conditions = self._conditions(cfg)

        # onset and episodes under way at the start, by age band and sex
        self.onset_probability_week: list[list[float]] = []
        self._onset_weights: list[list[list[float]]] = []
        self._prevalence: list[list[float]] = []
        self._prevalence_weights: list[list[list[float]]] = []
        onset_mult = [_relative_rates(c.age_rate_ratio, c.female_rate_ratio,
                                      pop.age_band_shares, pop.female_share_by_age_band)
                      for c in cfg.conditions.values()]
        per_1000 = [c.onset_per_1000_per_year for c in cfg.conditions.values()]
        prev_1000 = [c.prevalence_at_start_per_1000 for c in cfg.conditions.values()]
        for band in range(len(AGE_BAND_LOWER_YEARS)):
            onset_row, weights_row, prev_row, prev_weights_row = [], [], [], []
            for female in (0, 1):
                hazards = [r / 1000 / WEEKS_PER_YEAR * m[band][female]
                           for r, m in zip(per_1000, onset_mult, strict=True)]
                onset_row.append(1.0 - math.exp(-sum(hazards)))
                weights_row.append(hazards)
                prev = [r / 1000 * m[band][female]
                        for r, m in zip(prev_1000, onset_mult, strict=True)]
                prev_row.append(min(sum(prev), 1.0))
                prev_weights_row.append(prev)
            self.onset_probability_week.append(onset_row)
            self._onset_weights.append(weights_row)
            self._prevalence.append(prev_row)
            self._prevalence_weights.append(prev_weights_row)

        # capacity: the city's orthopaedic clinics and theatres pooled, per calendar week
        clinics = [s for s in cfg.services.values()
                   if isinstance(s, OutpatientService) and s.enabled and s.specialty == SPECIALTY]
        theatres = [s for s in cfg.services.values() if isinstance(s, TheatreService) and s.enabled]
        self.first_slots_per_week = scale * sum(
            s.first_slots_per_week * s.operating_weeks_per_year / WEEKS_PER_YEAR for s in clinics)
        sessions = [s.sessions_per_week * s.operating_weeks_per_year / WEEKS_PER_YEAR
                    for s in theatres]
        self.theatre_sessions_per_week = scale * sum(sessions)
        # session length and turnaround: means over the theatres, weighted by their sessions
        pairs = list(zip(sessions, theatres, strict=True))
        self.session_minutes = sum(n * s.session_minutes for n, s in pairs) / sum(sessions)
        self.turnaround_minutes = sum(n * s.turnaround_minutes for n, s in pairs) / sum(sessions)
        self.first_tariff_gbp = cfg.contract.tariff.outpatient_first_gbp[SPECIALTY]
        # whole slots and sessions are released; the fraction carries over (as in msksim)
        self._slot_credit = 0.0
        self._session_credit = 0.0

        self.outpatient_queue: deque[Person] = deque()
        self.theatre_queue: deque[Person] = deque()
        self.n_ill = 0
        self.gp_consultations_total = 0
        self.first_attendances_total = 0
        self.operations_total = 0
        self.paid_gbp_total = 0.0
        self.outpatient_wait_weeks_total = 0
        self.theatre_wait_weeks_total = 0
        self.first_attendances_this_week = 0
        self.operations_this_week = 0
        self.paid_gbp_this_week = 0.0

        lower = list(AGE_BAND_LOWER_YEARS) + [AGE_BAND_LOWER_YEARS[-1] + OLDEST_BAND_WIDTH_YEARS]
        bands = range(len(AGE_BAND_LOWER_YEARS))
        for _ in range(population):
            band = self.random.choices(bands, weights=pop.age_band_shares)[0]
            female = self.random.random() < pop.female_share_by_age_band[band]
            age_years = self.random.randrange(lower[band], lower[band + 1])
            person = Person(self, age_years, band, female)
            if self.random.random() < self._prevalence[band][female]:
                condition = self.random.choices(
                    self.conditions, weights=self._prevalence_weights[band][female])[0]
                person.fall_ill(condition)

        self.datacollector = mesa.DataCollector(model_reporters={
            "waiting_outpatient": lambda m: len(m.outpatient_queue),
            "waiting_theatre": lambda m: len(m.theatre_queue),
            "first_attendances": "first_attendances_this_week",
            "operations": "operations_this_week",
            "paid_gbp": "paid_gbp_this_week",
            "ill": "n_ill",
        })

    @staticmethod
    def _conditions(cfg: CityConfig) -> list[Condition]:
        procedures = {
            name: Procedure(name=name, tariff_gbp=p.tariff_gbp,
                            case_minutes=tuple(c.duration_minutes for c in p.case_types.values()),
                            case_shares=tuple(c.share for c in p.case_types.values()),
                            recovery_weeks=p.recovery_weeks)
            for name, p in cfg.procedures.items()}
        conditions = []
        for name, c in cfg.conditions.items():
            listed = LISTED_SHARE_AT_FIRST.get(name, 0.0) if c.procedure else 0.0
            conditions.append(Condition(
                name=name, chronic=c.chronic, median_duration_weeks=c.median_duration_weeks,
                duration_sigma_log=c.duration_sigma_log,
                consult_probability=c.consult_probability,
                consult_delay_weeks_mean=c.consult_delay_weeks_mean,
                reconsult_per_week=c.reconsult_per_year / WEEKS_PER_YEAR,
                gp_review_probability=c.gp_review_probability,
                gp_review_interval_weeks=c.gp_review_interval_weeks,
                referred_share=(REFERRED_SHARE_OF_CONSULTATIONS.get(name, 0.0)
                                if c.specialty == SPECIALTY else 0.0),
                referred_elsewhere_share=REFERRED_ELSEWHERE_SHARE_OF_CONSULTATIONS.get(name, 0.0),
                listed_share=listed,
                procedure=procedures[c.procedure] if c.procedure else None))
        return conditions

    @property
    def week(self) -> int:
        return int(self.time)

    def draw_condition(self, age_band: int, female: bool) -> Condition:
        """Which condition a new episode is, in proportion to the onset rates."""
        return self.random.choices(self.conditions,
                                   weights=self._onset_weights[age_band][female])[0]

    def refer_to_outpatients(self, person: Person) -> None:
        person.join_list(State.WAITING_OUTPATIENT)
        self.outpatient_queue.append(person)

    def pay(self, amount_gbp: float) -> None:
        """Payment by Results: the commissioner pays the provider the tariff per activity."""
        self.paid_gbp_this_week += amount_gbp
        self.paid_gbp_total += amount_gbp

    def step(self) -> None:
        self.first_attendances_this_week = 0
        self.operations_this_week = 0
        self.paid_gbp_this_week = 0.0
        self.agents.shuffle_do("step")
        self.run_clinics()
        self.run_theatres()
        self.datacollector.collect(self)

    def run_clinics(self) -> None:
        """First appointments in referral order up to this week's slots; at each, list for
        surgery or discharge to the GP."""
        self._slot_credit += self.first_slots_per_week
        slots = int(self._slot_credit)
        self._slot_credit -= slots
        queue = self.outpatient_queue
        # someone referred this week (wait 0) is seen next week at the earliest
        while slots > 0 and queue and queue[0].wait_weeks > 0:
            person = queue.popleft()
            slots -= 1
            self.first_attendances_this_week += 1
            self.first_attendances_total += 1
            self.outpatient_wait_weeks_total += person.wait_weeks
            self.pay(self.first_tariff_gbp)
            condition = person.condition
            if condition.procedure is not None and self.random.random() < condition.listed_share:
                proc = condition.procedure
                person.case_minutes = self.random.choices(proc.case_minutes,
                                                          weights=proc.case_shares)[0]
                person.join_list(State.WAITING_THEATRE)
                self.theatre_queue.append(person)
            else:
                person.return_to_gp()

    def run_theatres(self) -> None:
        """Operations in listing order while this week's theatre minutes last."""
        self._session_credit += self.theatre_sessions_per_week
        sessions = int(self._session_credit)
        self._session_credit -= sessions
        minutes_left = sessions * self.session_minutes
        queue = self.theatre_queue
        while queue and queue[0].wait_weeks > 0:
            person = queue[0]
            minutes = person.case_minutes + self.turnaround_minutes
            if minutes > minutes_left:
                break
            minutes_left -= minutes
            queue.popleft()
            self.operations_this_week += 1
            self.operations_total += 1
            self.theatre_wait_weeks_total += person.wait_weeks
            proc = person.condition.procedure
            self.pay(proc.tariff_gbp)
            person.start_recovery(proc.recovery_weeks)


def run_reference(population: int = 100_000, weeks: int = 312, seed: int = 1) -> dict:
    """Build and run the reference city; wall time and what it did.

    Yearly figures are means over the weeks after the default config's warm-up (52 weeks), or
    over the whole run if it is not longer than the warm-up.
    """
    cfg = load_config()
    start = time.perf_counter()
    model = ReferenceCity(population=population, seed=seed, config=cfg)
    built = time.perf_counter()
    model.run_for(weeks)
    end = time.perf_counter()

    weekly = model.datacollector.get_model_vars_dataframe()
    warmup_weeks = cfg.run.warmup_weeks if weeks > cfg.run.warmup_weeks else 0
    after = weekly.iloc[warmup_weeks:]
    years = max(len(after), 1) / WEEKS_PER_YEAR
    firsts = max(model.first_attendances_total, 1)
    operations = max(model.operations_total, 1)
    return {
        "persons": len(model.agents),
        "weeks": weeks,
        "seed": seed,
        "wall_seconds": end - start,
        "build_seconds": built - start,
        "run_seconds": end - built,
        "gp_consultations_total": model.gp_consultations_total,
        "first_attendances_total": model.first_attendances_total,
        "operations_total": model.operations_total,
        "paid_gbp_total": model.paid_gbp_total,
        "first_attendances_per_year": float(after["first_attendances"].sum() / years),
        "operations_per_year": float(after["operations"].sum() / years),
        "paid_gbp_per_year": float(after["paid_gbp"].sum() / years),
        "mean_outpatient_wait_weeks": model.outpatient_wait_weeks_total / firsts,
        "mean_theatre_wait_weeks": model.theatre_wait_weeks_total / operations,
        "waiting_outpatient_at_end": len(model.outpatient_queue),
        "waiting_theatre_at_end": len(model.theatre_queue),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000, help="adults simulated")
    parser.add_argument("--weeks", type=int, default=312,
                        help="weeks simulated (default: a 52-week warm-up and five years)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    r = run_reference(args.population, args.weeks, args.seed)
    print(f"mesa reference: {r['persons']:,} persons × {r['weeks']} weeks in "
          f"{r['wall_seconds']:.1f} s (build {r['build_seconds']:.1f} s); a year: "
          f"{r['first_attendances_per_year']:,.0f} first attendances, "
          f"{r['operations_per_year']:,.0f} operations, £{r['paid_gbp_per_year']:,.0f} paid")


if __name__ == "__main__":
    main()
