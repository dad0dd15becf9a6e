"""Tidy weekly results and the headline table people read.

Names follow one convention: `n_*` are stocks at the end of a week, `new_*` flows during it,
`sum_*` totals to be divided by a matching count, `*_gbp` money. Rows are (week, metric, value)
plus grouping columns where a metric is broken down (service, provider, procedure, route, ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUPS = ("service", "provider", "procedure", "route", "condition", "imd_quintile", "state",
          "reason", "source", "lever")

_NO_GROUPS = (None,) * len(GROUPS)


class Recorder:
    """Collects one week's metrics (summing repeats) and keeps the weeks asked to be kept."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.last: dict[tuple, float] = {}
        self._cur: dict[tuple, float] = {}
        self._week = 0
        self._keep = False
        #: `add_counts`' row keys, one per label, made once per metric, labels and groups
        self._keys: dict[tuple, list[tuple]] = {}
        self._totals: dict[str, float] | None = None

    def start_week(self, week: int, record: bool) -> None:
        self._week, self._keep, self._cur = week, record, {}

    def add(self, metric: str, value: float, **groups: str) -> None:
        key = (metric, *map(groups.get, GROUPS)) if groups else (metric, *_NO_GROUPS)
        self._cur[key] = self._cur.get(key, 0.0) + float(value)

    def add_by(self, metric: str, codes: np.ndarray, labels: list[str], group: str,
               **groups: str) -> None:
        """Count `codes` (indices into `labels`) and add one row per label present."""
        codes = np.asarray(codes)
        codes = codes[codes >= 0]
        self.add_counts(metric, np.bincount(codes.astype(np.int64), minlength=len(labels)),
                        labels, group, **groups)

    def add_counts(self, metric: str, counts: np.ndarray, labels: list[str], group: str,
                   **groups: str) -> None:
        """One row per label with a nonzero count (`counts[i]` belongs to `labels[i]`)."""
        if group in groups:
            raise TypeError(f"add_counts: '{group}' is both the grouping and a fixed group")
        cache = (metric, group, tuple(labels), *groups.items())
        keys = self._keys.get(cache)
        if keys is None:
            keys = self._keys[cache] = [(metric, *map({**groups, group: label}.get, GROUPS))
                                        for label in labels]
        cur = self._cur
        nonzero = np.flatnonzero(counts)
        for i, n in zip(nonzero.tolist(), counts[nonzero].tolist(), strict=True):
            key = keys[i]
            cur[key] = cur.get(key, 0.0) + float(int(n))

    def end_week(self) -> None:
        self.last = self._cur
        self._totals = None
        if self._keep:
            w = self._week
            self.rows.extend((w, key[0], v) + key[1:] for key, v in self._cur.items())

    def last_total(self, metric: str) -> float:
        """Last week's total of one metric over all its groups."""
        if self._totals is None:
            values: dict[str, list[float]] = {}
            for key, v in self.last.items():
                values.setdefault(key[0], []).append(v)
            # sum() itself: it adds floats with compensation, unlike a running total
            self._totals = {m: sum(vs) for m, vs in values.items()}
        return self._totals.get(metric, 0)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["week", "metric", "value", *GROUPS])
        df["week"] = df["week"].astype("int32")
        df["value"] = df["value"].astype("float64")
        df = df.dropna(axis=1, how="all")
        return df.sort_values(["week", "metric", *[g for g in GROUPS if g in df]],
                              kind="stable", na_position="first").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# the headline table
# ----------------------------------------------------------------------------------------------
def _total(df: pd.DataFrame, metric: str, **where: str) -> float:
    sel = df["metric"] == metric
    for col, val in where.items():
        if col not in df:
            return 0.0
        sel &= df[col] == val
    return float(df.loc[sel, "value"].sum())


def _weekly_mean(df: pd.DataFrame, metric: str, n_weeks: int, **where: str) -> float:
    return _total(df, metric, **where) / max(n_weeks, 1)


def _ratio(a: float, b: float) -> float:
    """a / b, or NaN (shown as '–') when there is nothing to divide by."""
    return a / b if b > 0 else float("nan")


#: provider levers in plain words, with units (adaptation.LEVERS)
LEVER_LABELS = {
    "follow_up_shift_qaly": ("follow-up policy (+ = more follow-ups)", "QALY-equivalent"),
    "listing_shift_qaly": ("listing policy (+ = lower bar for surgery)", "QALY-equivalent"),
    "community_first_qaly": ("community-first routing (+ = higher bar for clinics)",
                             "QALY-equivalent"),
    "self_management_share": ("supported self-management", "share of people leaving"),
    "decision_support_share": ("decision aids", "share of surgical decisions"),
    "gp_support_share": ("support for GPs", "share of practices"),
    "theatre_sessions_factor": ("theatre sessions run", "× planned"),
}


#: weekly theatre figures summed over theatres
THEATRE_METRICS = ("sessions_planned", "sessions_run", "session_minutes_planned",
                   "touch_minutes", "touch_minutes_capped", "sessions_started_late_30",
                   "sessions_finished_early_30", "new_cases_booked")

#: why a booked case did not happen on the day
CANCELLATION_REASONS = {"patient_or_hospital": "patient or hospital reasons",
                        "list_overran": "list ran out of time", "no_bed": "no ward bed"}


def summarise(weekly: pd.DataFrame, ledger: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """The headline figures of one run, per year on average over the contract years.

    Returns rows (section, measure, unit, value) in reading order.
    """
    years = meta["config"]["run"]["years"]
    weeks = int(weekly["week"].max()) + 1 if len(weekly) else 0
    scale = meta["config"]["run"]["scale"]
    per_year = 52.0 / max(weeks, 1)
    city = 1.0 / scale  # counts are reported for the whole city, whatever the scale
    adults = _weekly_mean(weekly, "n_adults", weeks)
    per_1000 = 1000.0 / max(adults, 1.0)
    rows: list[tuple[str, str, str, float]] = []

    def add(section: str, measure: str, unit: str, value: float) -> None:
        rows.append((section, measure, unit, float(value)))

    add("Population", "Adults registered (mean over the contract)", "people", adults * city)
    add("Population", "Share of the city simulated (scale)", "%", 100 * scale)
    consulters = _total(weekly, "new_gp_consulters") / years
    add("Primary care", "GP MSK consulters", "% of adults a year",
        100 * _ratio(consulters, adults))
    add("Primary care", "GP MSK consultations per consulter", "consultations",
        _ratio(_total(weekly, "new_gp_consultations") / years, consulters))
    services = meta.get("services", {})

    def label_of(node: str) -> str:
        return "GP" if node == "gp" else services.get(node, {}).get("label") or node

    if "route" in weekly:
        routes = weekly.loc[weekly["metric"] == "new_referrals", "route"].dropna().unique()
        for r in sorted(routes):
            a, b = r.split("->")
            add("Referrals", f"{label_of(a)} → {label_of(b)}", "per 1,000 adults a year",
                _total(weekly, "new_referrals", route=r) * per_year * per_1000)
    add("Referrals", "Returns to the GP without treatment (ping-pong)", "per 1,000 adults a year",
        _total(weekly, "new_returns_to_gp") * per_year * per_1000)
    add("Referrals", "Appointments missed (did not attend)", "per 1,000 adults a year",
        _total(weekly, "new_did_not_attend") * per_year * per_1000)
    add("Referrals", "Given supported self-management", "per 1,000 adults a year",
        _total(weekly, "new_self_management") * per_year * per_1000)
    add("Referrals", "Given a decision aid before choosing surgery", "per 1,000 adults a year",
        _total(weekly, "new_decision_aids") * per_year * per_1000)
    clinics = [n for n, info in services.items() if info["kind"] == "outpatient"]
    add("Outpatients and community", "All outpatient clinics: follow-ups per first", "ratio",
        _ratio(sum(_total(weekly, "new_follow_up_attendances", service=n) for n in clinics),
               sum(_total(weekly, "new_first_attendances", service=n) for n in clinics)))
    for name, info in services.items():
        if info["kind"] not in ("outpatient", "community", "hub"):
            continue
        label = info["label"] or name
        first = _total(weekly, "new_first_attendances", service=name) * per_year * city
        fu = _total(weekly, "new_follow_up_attendances", service=name) * per_year * city
        add("Outpatients and community", f"{label}: first attendances", "a year", first)
        if info["kind"] != "hub":
            add("Outpatients and community", f"{label}: follow-ups", "a year", fu)
        if info["kind"] == "outpatient":
            add("Outpatients and community", f"{label}: follow-ups per first", "ratio",
                _ratio(fu, first))
            add("Outpatients and community", f"{label}: discharged at first attendance",
                "% of firsts", 100 * _ratio(
                    _total(weekly, "new_discharged_at_first", service=name) * per_year * city,
                    first))
            if info.get("surgical"):
                listed = sum(_total(weekly, "new_listed", route=f"{name}->{t}")
                             for t in services)
                add("Outpatients and community", f"{label}: listed for surgery per first",
                    "%", 100 * _ratio(listed * per_year * city, first))
            if info.get("surgical") and "source" in weekly:
                by_source = weekly[(weekly["metric"] == "new_first_attendances_by_source")
                                   & (weekly["service"] == name)]
                for src in sorted(by_source["source"].dropna().unique()):
                    if src == "caseload_at_start":
                        continue
                    what = f"referrals from {label_of(src)}"
                    n_first = _total(weekly, "new_first_attendances_by_source", service=name,
                                     source=src)
                    if n_first >= 20:
                        add("Outpatients and community",
                            f"{label}: listed per first, {what}", "%",
                            100 * _total(weekly, "new_listed_by_source", service=name,
                                         source=src) / n_first)
    if "procedure" in weekly:
        procs = weekly.loc[weekly["metric"] == "new_procedures", "procedure"].dropna().unique()
        total_ops = 0.0
        for pr in sorted(procs):
            n = _total(weekly, "new_procedures", procedure=pr) * per_year * city
            total_ops += n
            add("Surgery", f"{pr.replace('_', ' ')}", "operations a year", n)
        add("Surgery", "all operations", "operations a year", total_ops)
        low = _total(weekly, "new_low_value_procedures") * per_year * city
        add("Surgery", "low-value operations (expected gain below the usual bar to list)",
            "% of operations", 100 * _ratio(low, total_ops))
        eligible = _total(weekly, "new_surgery_eligible")
        add("Surgery", "choosing surgery when offered (first attendances)", "%",
            100 * _ratio(_total(weekly, "new_listed_eligible"), eligible))
    if "imd_quintile" in weekly:
        for q, label in (("1", "most deprived fifth"), ("5", "least deprived fifth")):
            n_q = _weekly_mean(weekly, "n_adults_imd", weeks, imd_quintile=q)
            add("Surgery", f"operations, {label}", "per 1,000 adults a year",
                1000 * _ratio(_total(weekly, "new_procedures_imd", imd_quintile=q) * per_year,
                              n_q))
    theatres = [n for n, info in services.items() if info["kind"] == "theatre"]
    t = {m: sum(_total(weekly, m, service=n) for n in theatres) for m in THEATRE_METRICS}
    add("Theatres", "Sessions planned", "4-hour sessions a year",
        t["sessions_planned"] * per_year * city)
    add("Theatres", "Sessions run", "4-hour sessions a year", t["sessions_run"] * per_year * city)
    add("Theatres", "Touch-time utilisation, capped (target 85%)", "% of session time",
        100 * _ratio(t["touch_minutes_capped"], t["session_minutes_planned"]))
    add("Theatres", "Touch-time utilisation, uncapped (with overruns)", "% of session time",
        100 * _ratio(t["touch_minutes"], t["session_minutes_planned"]))
    add("Theatres", "Lists starting 30+ minutes late", "% of sessions run",
        100 * _ratio(t["sessions_started_late_30"], t["sessions_run"]))
    add("Theatres", "Lists finishing 30+ minutes early", "% of sessions run",
        100 * _ratio(t["sessions_finished_early_30"], t["sessions_run"]))
    booked = t["new_cases_booked"]
    for reason, label in CANCELLATION_REASONS.items():
        add("Theatres", f"Cancelled on the day: {label}", "% of cases booked",
            100 * _ratio(_total(weekly, "new_cancellations", reason=reason), booked))
    beds = _total(weekly, "bed_days_available")
    if beds:
        add("Theatres", "Ward bed occupancy (elective MSK)", "%",
            100 * _ratio(_total(weekly, "bed_days_used"), beds))
    ops = _total(weekly, "new_procedures")
    for n in theatres:  # where patients were operated on (displacement)
        add("Theatres", f"Operations at {label_of(n)}", "a year",
            _total(weekly, "new_procedures", service=n) * per_year * city)
    add("Theatres", "Mean travel to the operating theatre", "km",
        _ratio(_total(weekly, "sum_travel_km"), ops))
    outside = sum(_total(weekly, "new_procedures", service=n) for n in theatres
                  if meta.get("providers", {}).get(services[n]["provider"], {}).get("kind")
                  == "out_of_area")
    add("Theatres", "Operations outside the city", "% of operations", 100 * _ratio(outside, ops))
    add("Theatres", "Moved to another provider's list (shorter wait)", "people a year",
        _total(weekly, "new_transfers") * per_year * city)
    last = weekly[weekly["week"] == weekly["week"].max()]
    n_first = _total(last, "n_waiting_first")
    n_surg = _total(last, "n_waiting_surgery")
    add("Waiting", "Waiting for a first appointment (end)", "people", n_first * city)
    add("Waiting", "Waiting for surgery (end)", "people", n_surg * city)
    add("Waiting", "Follow-ups overdue (end)", "people",
        _total(last, "n_waiting_follow_up") * city)
    # with nobody waiting, everyone is within 18 weeks
    inc = _total(weekly, "n_incomplete_pathways")
    add("Waiting", "Incomplete RTT pathways within 18 weeks", "% (mean over weeks)",
        100 * _ratio(_total(weekly, "n_within_18_weeks"), inc) if inc else 100.0)
    inc_end = _total(last, "n_incomplete_pathways")
    add("Waiting", "Incomplete RTT pathways within 18 weeks (end)", "%",
        100 * _ratio(_total(last, "n_within_18_weeks"), inc_end) if inc_end else 100.0)
    add("Waiting", "52+ week waiters (end)", "people", _total(last, "n_over_52_weeks") * city)
    add("Waiting", "Wait from referral to operation (RTT, admitted)", "weeks (mean)",
        _ratio(_total(weekly, "sum_admitted_rtt_weeks"), ops))
    add("Waiting", "Admitted within 18 weeks", "% of operations",
        100 * _ratio(_total(weekly, "new_admitted_within_18_weeks"), ops))
    exits = weekly[weekly["metric"] == "new_list_exits"]
    if "reason" in exits:
        removed = exits.loc[~exits["reason"].isin(["treated", "transfer"]), "value"].sum()
        add("Waiting", "Removed from a surgery list other than by treatment", "people a year",
            removed * per_year * city)
    n_out = _total(weekly, "new_outcomes")
    add("Outcomes", "EQ-5D gain six months after surgery", "index points (mean)",
        _ratio(_total(weekly, "sum_eq5d_gain"), n_out))
    for pr, score in (("hip_replacement", "Oxford Hip Score"),
                      ("knee_replacement", "Oxford Knee Score")):
        n = _total(weekly, "new_outcomes", procedure=pr)
        if n:
            add("Outcomes", f"{score} gain ({pr.replace('_', ' ')})", "points (mean)",
                _total(weekly, "sum_oxford_gain", procedure=pr) / n)
    add("Outcomes", "Share improved after surgery", "%",
        100 * _ratio(_total(weekly, "new_improved"), n_out))
    add("Outcomes", "QALYs lost to MSK conditions", "QALYs per 1,000 adults a year",
        _total(weekly, "qaly_loss_msk") * per_year * per_1000)
    spend = ledger.loc[ledger["payer"] == "commissioner", "amount_gbp"].sum() if len(ledger) \
        else 0.0
    envelope = _total(weekly, "envelope_gbp")
    add("Money", "Commissioner spend", "£m a year", spend * per_year / scale / 1e6)
    add("Money", "Commissioner spend per adult", "£ a year", spend * per_year / max(adults, 1))
    if envelope > 0:
        add("Money", "Spend against the envelope", "% of envelope", 100 * spend / envelope)
    for key, info in meta.get("providers", {}).items():
        inc_ = _total(weekly, "provider_income_gbp", provider=key)
        cost = _total(weekly, "provider_cost_gbp", provider=key)
        paid = _total(weekly, "provider_paid_out_gbp", provider=key)
        add("Providers", f"{info['name']}: income", "£m a year",
            inc_ * per_year / scale / 1e6)
        add("Providers", f"{info['name']}: margin", "£m a year",
            (inc_ - cost - paid) * per_year / scale / 1e6)
    if "lever" in weekly:
        # policies that moved during the contract, where each provider left them
        levers = weekly[weekly["metric"] == "lever_value"]
        first, end = levers[levers["week"] == levers["week"].min()], levers[
            levers["week"] == levers["week"].max()]
        for key, info in meta.get("providers", {}).items():
            for lever in LEVER_LABELS:
                a, b = (_total(first, "lever_value", provider=key, lever=lever),
                        _total(end, "lever_value", provider=key, lever=lever))
                if (levers["provider"].eq(key) & levers["lever"].eq(lever)
                        & levers["value"].ne(a)).any() or a != b:
                    label, unit = LEVER_LABELS[lever]
                    add("Provider policies (end)", f"{info['name']}: {label}", unit, b)
    return pd.DataFrame(rows, columns=["section", "measure", "unit", "value"])


#: the columns that name one headline figure
KEYS = ["section", "measure", "unit"]


def theatre_table(weekly: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """Each theatre's year, as planners read it: sessions, touch-time utilisation (capped and
    uncapped), cancellations, its waiting list and RTT position at the end, operations and
    the mean time on its list. One row per theatre, whole-city counts."""
    weeks = int(weekly["week"].max()) + 1 if len(weekly) else 0
    per_year = 52.0 / max(weeks, 1)
    city = 1.0 / meta["config"]["run"]["scale"]
    last = weekly[weekly["week"] == weekly["week"].max()]
    rows = []
    for name, info in meta.get("services", {}).items():
        if info["kind"] != "theatre":
            continue

        def tot(m: str, df: pd.DataFrame = weekly, _n: str = name) -> float:
            return _total(df, m, service=_n)

        minutes = tot("session_minutes_planned")
        booked = tot("new_cases_booked")
        n_list = tot("n_incomplete_pathways_by_service", last)
        exits = tot("new_list_exits")
        rows.append({
            "theatre": info.get("label") or name,
            "provider": info["provider"],
            "sessions a year": tot("sessions_planned") * per_year * city,
            "utilisation capped %": 100 * _ratio(tot("touch_minutes_capped"), minutes),
            "utilisation uncapped %": 100 * _ratio(tot("touch_minutes"), minutes),
            "cancelled on the day %": 100 * _ratio(tot("new_cancellations"), booked),
            "operations a year": tot("new_procedures") * per_year * city,
            "waiting (end)": tot("n_waiting_surgery", last) * city,
            "within 18 weeks (end) %": (100 * _ratio(tot("n_within_18_weeks_by_service", last),
                                                     n_list) if n_list else 100.0),
            "52+ weeks (end)": tot("n_over_52_weeks_by_service", last) * city,
            "weeks on the list (mean)": _ratio(tot("sum_list_exit_wait_weeks"), exits),
        })
    return pd.DataFrame(rows)


def side_by_side(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Join run summaries on (section, measure, unit): one value column per run."""
    keys = KEYS
    order: list[tuple] = []
    for s in summaries.values():
        order += [k for k in map(tuple, s[keys].values) if k not in order]
    out = pd.DataFrame(order, columns=keys)
    for name, s in summaries.items():
        out = out.merge(s.rename(columns={"value": name}), on=keys, how="left")
    # keep each section's rows together, sections in first-seen order
    sections = list(dict.fromkeys(out["section"]))
    out["_s"] = out["section"].map(sections.index)
    return out.sort_values("_s", kind="stable").drop(columns="_s").reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table, grouped by section, numbers rounded for reading."""
    value_cols = [c for c in table.columns if c not in ("section", "measure", "unit")]
    width = 2 + max(len(f"{m} ({u})")
                    for m, u in zip(table["measure"], table["unit"], strict=True))
    width = min(width, 104)
    lines = []
    header = f"{'':<{width}}" + "".join(f"{c:>14}" for c in value_cols)
    lines.append(header)
    section = None
    for _, row in table.iterrows():
        if row["section"] != section:
            section = row["section"]
            lines.append(f"\n{section}")
        label = f"  {row['measure']} ({row['unit']})"
        if len(label) > width:
            label = label[: width - 1] + "…"
        cells = "".join(f"{fmt_number(row[c]):>14}" for c in value_cols)
        lines.append(f"{label:<{width}}{cells}")
    return "\n".join(lines)


def fmt_number(x: float) -> str:
    """A figure rounded for reading (– for missing)."""
    if x is None or not np.isfinite(x):
        return "–"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


# ----------------------------------------------------------------------------------------------
# weekly series for plots with uncertainty bands (experiments and reports)
# ----------------------------------------------------------------------------------------------
#: the weekly series an experiment keeps from each run: name -> (plain label, unit)
SERIES = {
    "waiting_first": ("Waiting for a first appointment", "people"),
    "waiting_surgery": ("Waiting for surgery", "people"),
    "pct_within_18_weeks": ("Incomplete RTT pathways within 18 weeks", "%"),
    "commissioner_spend_gbp": ("Commissioner spend", "£ a week"),
    "envelope_gbp": ("Budget envelope", "£ a week"),
    "theatre_utilisation_pct": ("Theatre touch-time utilisation (capped)", "%"),
    "operations": ("Operations", "a week"),
    "eq5d_gain": ("EQ-5D gain six months after surgery", "index points (mean)"),
    "referrals": ("Referrals by route", "a week"),
    "operations_per_1000_imd": ("Operations by deprivation quintile",
                                "per 1,000 adults a year"),
}


def weekly_series(weekly: pd.DataFrame, scale: float) -> pd.DataFrame:
    """The run's weekly series (`SERIES`) as rows (week, series, group, value), whole-city
    counts. `group` is the route or deprivation quintile where a series is broken down."""
    city = 1.0 / scale
    weeks = pd.Index(sorted(weekly["week"].unique()), name="week")

    def total(metric: str) -> pd.Series:
        sel = weekly[weekly["metric"] == metric]
        return sel.groupby("week")["value"].sum().reindex(weeks, fill_value=0.0)

    def by(metric: str, group: str) -> pd.DataFrame:
        sel = weekly[weekly["metric"] == metric]
        if group not in sel or sel.empty:
            return pd.DataFrame(index=weeks)
        return sel.pivot_table(index="week", columns=group, values="value",
                               aggfunc="sum").reindex(weeks, fill_value=0.0).fillna(0.0)

    with np.errstate(invalid="ignore", divide="ignore"):
        inc = total("n_incomplete_pathways")
        planned = total("session_minutes_planned")
        outcomes = total("new_outcomes")
        cols = {
            "waiting_first": total("n_waiting_first") * city,
            "waiting_surgery": total("n_waiting_surgery") * city,
            "pct_within_18_weeks": (100 * total("n_within_18_weeks") / inc).where(inc > 0, 100.0),
            "commissioner_spend_gbp": total("commissioner_spend_gbp") * city,
            "envelope_gbp": total("envelope_gbp") * city,
            "theatre_utilisation_pct": (100 * total("touch_minutes_capped") / planned)
            .where(planned > 0),
            "operations": total("new_procedures") * city,
            "eq5d_gain": (total("sum_eq5d_gain") / outcomes).where(outcomes > 0),
        }
    parts = [pd.DataFrame({"week": weeks, "series": k, "group": "", "value": v.to_numpy()})
             for k, v in cols.items()]
    for name, metric, group, per in (("referrals", "new_referrals", "route", None),
                                     ("operations_per_1000_imd", "new_procedures_imd",
                                      "imd_quintile", "n_adults_imd")):
        table = by(metric, group)
        if per is not None and len(table.columns):
            adults = by(per, group).reindex(columns=table.columns, fill_value=0.0)
            table = (1000 * 52 * table / adults.where(adults > 0)).astype(float)
        else:
            table = table * city
        for g in table.columns:
            parts.append(pd.DataFrame({"week": weeks, "series": name, "group": str(g),
                                       "value": table[g].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    out["week"] = out["week"].astype("int32")
    return out
