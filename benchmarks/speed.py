"""How fast one run is: the default city under each payment rule, larger populations, where a
run's time goes, and a plain-Mesa model of the same core pathway.

    .venv/bin/python benchmarks/speed.py [--repeats 3]
                                         [--cases city,population,split,mesa]
                                         [--record]

Cases (each measurement in a fresh process, so its peak memory is its own):
  city        the default city (Sheffield, scale 1.0), a 52-week warm-up and five contract
              years (six simulated years), under each payment rule
  population  the same city scaled to 100k, 300k, 1M and 3M adults, Payment by Results; the
              figure to watch is the time per simulated person-year, which should not grow
  split       where a run's time goes: the city at 10k to 1M adults, building and running timed
              apart; a straight line through run time against adults splits the run into a
              cost per week whatever the city's size (Python and numpy calls) and a cost per
              person-week (the array work), and says what each contributes at the default city
  mesa        msksim at 100k adults against benchmarks/mesa_reference.py (one Mesa Agent per
              person, the core pathway only) at 100k, both over six simulated years, in
              alternating order within this run; the ratio is Mesa's time over msksim's. msksim
              runs twice: the full default city, and the same core pathway as the reference
              (`core_pathway`: GP, one orthopaedic clinic, one theatre, the city's orthopaedic
              and theatre capacity pooled into them), like for like

Times are wall seconds for building the model and running it (imports excluded); medians over
the repeats. `--record` appends the tables to benchmarks/RESULTS.md with the date, the git
commit and the machine. Nothing here is run by `make test`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
RULES = ("pbr", "cobic", "block", "blended")
POPULATIONS = (100_000, 300_000, 1_000_000, 3_000_000)
YEARS, WARMUP_WEEKS = 5, 52
SIM_YEARS = YEARS + WARMUP_WEEKS / 52


def core_pathway(cfg):
    """The default city cut to the plain-Mesa reference's pathway: GP, the teaching hospital's
    orthopaedic clinic and its theatres, with every orthopaedic clinic's slots and every
    theatre's sessions pooled into them and no limit on ward beds (as in the reference); every
    other service switched off."""
    from msksim.config import OutpatientService, TheatreService

    clinic, theatre = "sth_orthopaedics", "sth_theatres"

    def pooled(kind, field: str, own: str) -> float:
        weekly = sum(getattr(s, field) * s.operating_weeks_per_year
                     for s in cfg.services.values()
                     if isinstance(s, kind) and s.enabled
                     and getattr(s, "specialty", "orthopaedics") == "orthopaedics")
        return weekly / cfg.services[own].operating_weeks_per_year

    services = {}
    for name, svc in cfg.services.items():
        if name == clinic:
            svc = svc.model_copy(update={
                f: pooled(OutpatientService, f, clinic)
                for f in ("first_slots_per_week", "follow_up_slots_per_week")})
        elif name == theatre:
            svc = svc.model_copy(update={"sessions_per_week": pooled(TheatreService,
                                                                     "sessions_per_week",
                                                                     theatre),
                                         "theatres": None, "beds": None})
        else:
            svc = svc.model_copy(update={"enabled": False})
        services[name] = svc
    return type(cfg).model_validate({**cfg.model_dump(), "services": {
        k: v.model_dump() for k, v in services.items()}})


def _city(adults: int | None, core: bool = False):
    """The default city (its core pathway with `core`) over six simulated years, scaled to
    `adults` (None: as it is)."""
    from msksim.config import load_config

    cfg = load_config()
    if core:
        cfg = core_pathway(cfg)
    run = {"years": YEARS, "warmup_weeks": WARMUP_WEEKS}
    if adults is not None:
        run["scale"] = adults / cfg.population.registered_adults
    return cfg.model_copy(update={"run": cfg.run.model_copy(update=run)})


def _one_msksim(rule: str, adults: int | None, core: bool = False) -> dict:
    """Build and run one model in this process; wall seconds and peak memory."""
    from msksim.run import run_once

    cfg = _city(adults, core)
    t0 = time.perf_counter()
    result = run_once(cfg, rule)
    wall = time.perf_counter() - t0
    ops = result.weekly
    ops = float(ops.loc[ops["metric"] == "new_procedures", "value"].sum()) / YEARS
    return {"wall_s": wall, "adults": round(cfg.population.registered_adults * cfg.run.scale),
            "operations_a_year": ops / cfg.run.scale, "peak_mb": _peak_mb()}


def _one_split(adults: int) -> dict:
    """Build and run the default city at `adults`, timing the two apart (imports excluded)."""
    from msksim.model import MSKModel

    cfg = _city(adults)
    t0 = time.perf_counter()
    model = MSKModel(cfg, "pbr")
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    return {"build_s": t1 - t0, "run_s": t2 - t1,
            "weeks": model.end_week + cfg.run.warmup_weeks}


def _one_mesa(adults: int) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mesa_reference import run_reference

    out = run_reference(population=adults, weeks=WARMUP_WEEKS + 52 * YEARS, seed=1)
    return {**out, "wall_s": out["wall_seconds"], "peak_mb": _peak_mb()}


def _peak_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kb / 1024


def _measure(kind: str, **kw) -> dict:
    """One measurement in a fresh interpreter (clean memory and caches)."""
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            f"import speed; print(json.dumps(speed._one_{kind}(**{kw!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{kind} {kw} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def case_city(repeats: int, say) -> list[str]:
    lines = ["| payment rule | wall (median) | runs | peak memory | operations a year |",
             "| --- | --- | --- | --- | --- |"]
    for rule in RULES:
        rows = [_measure("msksim", rule=rule, adults=None) for _ in range(repeats)]
        say(f"city {rule}: " + ", ".join(f"{r['wall_s']:.2f}" for r in rows) + " s")
        lines.append(f"| {rule} | **{_median(rows, 'wall_s'):.2f} s** | "
                     + ", ".join(f"{r['wall_s']:.2f}" for r in rows)
                     + f" | {max(r['peak_mb'] for r in rows):.0f} MB | "
                     f"{_median(rows, 'operations_a_year'):,.0f} |")
    return lines


def case_population(repeats: int, say) -> list[str]:
    lines = ["| adults | wall (median) | µs per person-year | vs 100k | peak memory |",
             "| --- | --- | --- | --- | --- |"]
    base = None
    for adults in POPULATIONS:
        rows = [_measure("msksim", rule="pbr", adults=adults) for _ in range(repeats)]
        wall = _median(rows, "wall_s")
        per = 1e6 * wall / (adults * SIM_YEARS)
        base = base or per
        say(f"population {adults:,}: {wall:.2f} s, {per:.2f} µs per person-year")
        lines.append(f"| {adults:,} | {wall:.2f} s | {per:.2f} | {per / base:.2f}× | "
                     f"{max(r['peak_mb'] for r in rows):.0f} MB |")
    return lines


def case_mesa(repeats: int, say) -> list[str]:
    adults = 100_000
    full, core, mesa = [], [], []
    for _ in range(repeats):  # alternate, so all meet the same machine conditions
        full.append(_measure("msksim", rule="pbr", adults=adults))
        core.append(_measure("msksim", rule="pbr", adults=adults, core=True))
        mesa.append(_measure("mesa", adults=adults))
        say(f"mesa case: msksim {full[-1]['wall_s']:.2f} s, msksim core pathway "
            f"{core[-1]['wall_s']:.2f} s, Mesa {mesa[-1]['wall_s']:.2f} s")
    a, c, b = (_median(x, "wall_s") for x in (full, core, mesa))

    def row(label: str, rows: list[dict], wall: float, digits: int) -> str:
        return (f"| {label} | {wall:.{digits}f} s | "
                + ", ".join(f"{r['wall_s']:.{digits}f}" for r in rows)
                + f" | {max(r['peak_mb'] for r in rows):.0f} MB |")

    return ["| model (100k adults, six simulated years) | wall (median) | runs | peak memory |",
            "| --- | --- | --- | --- |",
            row("msksim (full model)", full, a, 2),
            row("msksim, the reference's core pathway (`core_pathway`)", core, c, 2),
            row("plain Mesa, one Agent per person (core pathway)", mesa, b, 1),
            "", f"msksim is **{b / a:.0f}×** faster with its full model and **{b / c:.0f}×** "
            f"on the same core pathway (ratios of medians, same run)."]


SPLIT_POPULATIONS = (10_000, 30_000, 100_000, 300_000, 1_000_000)


def case_split(repeats: int, say) -> list[str]:
    import numpy as np

    from msksim.config import load_config

    default = load_config().population.registered_adults
    pops = sorted({*SPLIT_POPULATIONS, default})
    lines = ["| adults | build (median) | run (median) | run per simulated week |",
             "| --- | --- | --- | --- |"]
    build, run = [], []
    for adults in pops:
        rows = [_measure("split", adults=adults) for _ in range(repeats)]
        b, r, weeks = _median(rows, "build_s"), _median(rows, "run_s"), rows[0]["weeks"]
        build.append(b)
        run.append(r)
        say(f"split {adults:,}: build {b:.2f} s, run {r:.2f} s")
        label = f"{adults:,}" + (" (default city)" if adults == default else "")
        lines.append(f"| {label} | {b:.2f} s | {r:.2f} s | {1000 * r / weeks:.1f} ms |")
    # run = fixed + per_person × adults, by least squares over the populations
    x = np.column_stack([np.ones(len(pops)), np.asarray(pops, dtype=float)])
    (fixed_s, per_adult_s), *_ = np.linalg.lstsq(x, np.asarray(run), rcond=None)
    worst = max(abs(fixed_s + per_adult_s * a - r) / r for a, r in zip(pops, run, strict=True))
    i = pops.index(default)
    people_s = per_adult_s * default
    lines += [
        "", f"A straight line through run time against adults (least squares; the furthest "
        f"population is {100 * worst:.0f}% from it):",
        f"- **{1000 * fixed_s / weeks:.1f} ms a simulated week whatever the city's size** "
        f"({fixed_s:.2f} s a run): the week's Python and numpy calls;",
        f"- **{1e9 * per_adult_s / weeks:.1f} ns a person-week**: the array work, which grows "
        f"with the city.",
        "", f"At the default city ({default:,} adults): building {build[i]:.2f} s, the week's "
        f"calls {fixed_s:.2f} s and the array work {people_s:.2f} s, against "
        f"{build[i] + run[i]:.2f} s measured."]
    return lines


CASES = {"city": ("Default city, six simulated years, each payment rule", case_city),
         "population": ("Populations, Payment by Results, six simulated years", case_population),
         "split": ("Where a run's time goes: a cost per week and a cost per person-week",
                   case_split),
         "mesa": ("Against a plain-Mesa model of the core pathway", case_mesa)}


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}, "
            f"{platform.processor() or platform.machine()}")


def git_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, cwd=ROOT, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True,
                           text=True, cwd=ROOT, check=False).stdout.strip()
    return out.stdout.strip() + ("+changes" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", default="city,population,split,mesa")
    ap.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    a = ap.parse_args()
    chosen = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(CASES))
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    head = (f"## Run speed, {dt.date.today().isoformat()}, git {git_sha()}\n\n"
            f"Machine: {machine()}. `benchmarks/speed.py --repeats {a.repeats}`; each run in a "
            f"fresh process; wall seconds to build and run the model.\n")
    blocks = [head]
    for c in chosen:
        title, fn = CASES[c]
        blocks.append(f"### {title}\n\n" + "\n".join(fn(a.repeats, say)) + "\n")
    text = "\n".join(blocks)
    print(text)
    if a.record:
        with RESULTS.open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
