"""From the workshop's choices to a city config, the same way the command line builds one.

The app never edits a config by hand: every choice on "Set up" becomes one overlay (a small
mapping merged into the city's YAML by `msksim.config.load_config`, exactly as
`msksim run --overlay FILE` does), so the same settings give the same numbers in the app and
on the command line. `cli_command` prints that command and `overlay_yaml` the overlay file.
"""

from __future__ import annotations

import html
import math
import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import yaml

import msksim
from msksim.config import (
    CONTRACT_RULES,
    MAX_CONFIG_BYTES,
    CityConfig,
    ConfigError,
    TheatreService,
    check_rule_available,
    deep_merge,
    load_config,
    parse_yaml,
    validate_config,
)
from msksim.pathway import build_pathway

#: the built-in cities; Sheffield is msksim's own default (`load_config(None)`)
CITIES: tuple[str, ...] = ("Sheffield", "Bedford", "Oldham")
CITY_FILES: dict[str, str | None] = {"Sheffield": None, "Bedford": "bedford.yaml",
                                     "Oldham": "oldham.yaml"}
#: the city select's value for a config the user uploaded
UPLOADED = "Uploaded"

#: the payment rules in plain words (keys as on the command line)
RULE_WORDS: dict[str, str] = {
    "pbr": "Payment by Results: a national price for every appointment and operation",
    "cobic": "Capitated outcome-based contract (COBIC): one budget per head to a prime "
             "contractor, part of it paid for outcomes",
    "block": "Block contract: a fixed sum a year to each provider, whatever they do",
    "blended": "Blended: a fixed part, a part per activity and a part for outcomes",
}
RULE_NAMES: dict[str, str] = {"pbr": "Payment by Results (PbR)",
                              "cobic": "Capitated outcome-based contract (COBIC)",
                              "block": "Block contract", "blended": "Blended payment"}
RULE_SHORT: dict[str, str] = {"pbr": "PbR", "cobic": "COBIC", "block": "Block",
                              "blended": "Blended"}

#: the app's defaults where they differ from the city's: a tenth of the city, two years
DEFAULT_SCALE = 0.1
DEFAULT_YEARS = 2
SCALE_RANGE = (0.02, 1.0)
#: the most people one run in the app may simulate: the server is shared by every session,
#: and a run this size takes about a gigabyte (the whole of Sheffield is 465,000 adults)
MAX_APP_PEOPLE = 1_000_000
YEARS_RANGE = (1, 10)
OUTCOME_PCT_RANGE = (0.0, 20.0)
UPLIFT_PCT_RANGE = (-5.0, 5.0)
THEATRE_FACTOR_RANGE = (0.5, 1.5)
REFERRAL_SD_RANGE = (0.0, 1.0)
#: money weights offered (QALYs per £ of the decider's margin): none, then £200k ... £10k per QALY
MONEY_WEIGHTS: tuple[float, ...] = (0.0, 5e-6, 1e-5, 2e-5, 3e-5, 5e-5, 1e-4)
#: YAML aliases expanded beyond this many values are refused (a "billion laughs" file)
MAX_UPLOAD_VALUES = 200_000
OVERLAY_FILE = "workshop_overlay.yaml"


def configs_dir() -> Path | None:
    """The repository's `configs/` folder, found from this file or from the msksim package."""
    here = Path(__file__).resolve().parent.parent / "configs"
    pkg = Path(msksim.__file__).resolve().parents[2] / "configs"
    for d in (here, pkg):
        if (d / "bedford.yaml").is_file():
            return d
    return None


def city_path(city: str) -> Path | None:
    """The YAML file of a built-in city (None = msksim's built-in Sheffield)."""
    if city not in CITY_FILES:
        raise ConfigError(f"city: {city!r} is not one of {list(CITIES)}")
    name = CITY_FILES[city]
    if name is None:
        return None
    folder = configs_dir()
    if folder is None:
        raise ConfigError(f"city: the {city} config ({name}) was not found next to the app; "
                          f"run the app from a checkout of the repository")
    return folder / name


# ----------------------------------------------------------------------------------------------
# the choices
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Levers:
    """What the workshop can change. None (or 1.0 for the theatre factor) keeps the city's own
    setting, so an untouched lever never appears in the overlay."""

    outcome_incentive_pct: float | None = None  # COBIC outcome share, % of the contract, every year
    uplift_pct: float | None = None  # envelope / block / blended uplift, % a year
    theatre_factor: float = 1.0  # × each theatre's planned sessions a week
    theatre_provider: str | None = None  # only this provider's theatres (None = all)
    decision_aid_share: float | None = None  # starting share of surgical decisions with an aid
    hub_for_all: bool | None = None  # every GP referral through the city's hub
    referral_sd: float | None = None  # spread of GP practices' referral propensity (log-odds)
    money_weight: float | None = None  # behaviour.w_money_qaly_per_gbp
    scale: float = DEFAULT_SCALE
    seed: int | None = None
    years: int | None = DEFAULT_YEARS


@dataclass(eq=False)  # each upload is its own: compared by identity
class Upload:
    """A city config the user uploaded: its (display) name, its mapping and that validated."""

    name: str
    data: dict
    cfg: CityConfig


@dataclass(frozen=True)
class CityDefaults:
    """The city's own value of each lever (what a slider shows before it is moved)."""

    outcome_incentive_pct: float | None  # first year's share; None: no COBIC section
    outcome_schedule_pct: tuple[float, ...]
    uplift_pct: float
    decision_aid: tuple[float, float, float]  # initial, low, high
    hub: str | None  # the city's hub service, if it has one
    hub_for_all: bool
    referral_sd: float
    money_weight: float
    seed: int
    years: int
    theatre_providers: dict[str, str]  # provider key -> name, for those with theatres
    rules: tuple[str, ...]  # payment rules this city can run


@lru_cache(maxsize=8)
def _builtin_base(city: str) -> CityConfig:
    return load_config(city_path(city))


def base_config(city: str, upload: Upload | None = None) -> CityConfig:
    """The city's config as its file has it (shared: never modify the returned object)."""
    if city == UPLOADED:
        if upload is None:
            raise ConfigError("city: no config has been uploaded")
        return upload.cfg
    return _builtin_base(city)


def available_rules(base: CityConfig) -> tuple[str, ...]:
    out = []
    for rule in CONTRACT_RULES:
        try:
            check_rule_available(base, rule)
            out.append(rule)
        except ConfigError:
            pass
    return tuple(out)


def city_defaults(base: CityConfig) -> CityDefaults:
    cobic = base.contract.cobic
    if cobic is not None:
        uplift = cobic.inflation_per_year - cobic.efficiency_per_year
    else:
        uplift = base.contract.block.uplift_per_year
    lever = base.behaviour.adaptation.levers.decision_support_share
    hubs = [n for n, s in base.services.items() if s.kind == "hub"]
    spoa = base.pathway.single_point_of_access
    hub = spoa if spoa is not None else (hubs[0] if hubs else None)
    theatre_providers = {}
    for s in base.services.values():
        if isinstance(s, TheatreService):
            theatre_providers[s.provider] = base.providers[s.provider].name
    return CityDefaults(
        outcome_incentive_pct=(100 * cobic.outcome_incentive_share_by_year[0]
                               if cobic is not None else None),
        outcome_schedule_pct=tuple(100 * x for x in cobic.outcome_incentive_share_by_year)
        if cobic is not None else (),
        uplift_pct=round(100 * uplift, 6),
        decision_aid=(lever.initial, lever.low, lever.high),
        hub=hub, hub_for_all=spoa is not None,
        referral_sd=base.population.practices.referral_propensity_sd_log,
        money_weight=base.behaviour.w_money_qaly_per_gbp,
        seed=base.run.seed, years=base.run.years,
        theatre_providers=theatre_providers, rules=available_rules(base))


def effective(levers: Levers, d: CityDefaults) -> dict[str, Any]:
    """Each lever's value as the run will use it (the city's own where untouched)."""
    return {
        "outcome_incentive_pct": (levers.outcome_incentive_pct
                                  if levers.outcome_incentive_pct is not None
                                  else d.outcome_incentive_pct),
        "uplift_pct": levers.uplift_pct if levers.uplift_pct is not None else d.uplift_pct,
        "theatre_factor": levers.theatre_factor,
        "decision_aid_share": (levers.decision_aid_share if levers.decision_aid_share is not None
                               else d.decision_aid[0]),
        "hub_for_all": levers.hub_for_all if levers.hub_for_all is not None else d.hub_for_all,
        "referral_sd": levers.referral_sd if levers.referral_sd is not None else d.referral_sd,
        "money_weight": levers.money_weight if levers.money_weight is not None
        else d.money_weight,
        "scale": levers.scale,
        "seed": levers.seed if levers.seed is not None else d.seed,
        "years": levers.years if levers.years is not None else d.years,
    }


def _r(x: float) -> float:
    """Round a slider's float (0.1 + 0.05 = 0.15000000000000002) for a readable overlay."""
    return round(float(x), 6)


def _set(tree: dict, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for key in path:
        tree = tree.setdefault(key, {})
    tree[last] = value


def make_overlay(base: CityConfig, rule: str, levers: Levers) -> dict:
    """The overlay that turns the city's config into the workshop's choices."""
    d = city_defaults(base)
    ov: dict = {}
    _set(ov, "contract.rule", rule)
    cobic = base.contract.cobic
    if (levers.outcome_incentive_pct is not None and cobic is not None
            and any(abs(x - levers.outcome_incentive_pct) > 1e-9
                    for x in d.outcome_schedule_pct)):
        share = _r(levers.outcome_incentive_pct / 100)
        _set(ov, "contract.cobic.outcome_incentive_share_by_year",
             [share] * len(cobic.outcome_incentive_share_by_year))
    if levers.uplift_pct is not None and abs(levers.uplift_pct - d.uplift_pct) > 1e-9:
        u = _r(levers.uplift_pct / 100)
        if cobic is not None:  # the envelope grows by (1 + inflation - efficiency) a year
            _set(ov, "contract.cobic.inflation_per_year", _r(u + cobic.efficiency_per_year))
        _set(ov, "contract.block.uplift_per_year", u)
        _set(ov, "contract.blended.uplift_per_year", u)
    if abs(levers.theatre_factor - 1.0) > 1e-9:
        for name, svc in base.services.items():
            if not isinstance(svc, TheatreService):
                continue
            if levers.theatre_provider is not None and svc.provider != levers.theatre_provider:
                continue
            sessions = _r(svc.sessions_per_week * levers.theatre_factor)
            _set(ov, f"services.{name}.sessions_per_week", sessions)
            if svc.theatres is not None:  # more sessions than the rooms allow: open rooms
                most_factor = max([1.0] + [c.factor for c in base.capacity.changes
                                           if c.service == name])
                per_week = svc.sessions_per_theatre_per_weekday * 5
                needed = math.ceil(sessions * most_factor / per_week - 1e-9)
                if needed > svc.theatres:
                    _set(ov, f"services.{name}.theatres", needed)
    if levers.decision_aid_share is not None:
        initial, low, high = d.decision_aid
        share = _r(min(max(levers.decision_aid_share, low), high))
        if abs(share - initial) > 1e-9:
            # the whole lever: a city file that leaves it to the defaults has no low/high/step
            lever = base.behaviour.adaptation.levers.decision_support_share
            _set(ov, "behaviour.adaptation.levers.decision_support_share",
                 {"initial": share, "low": lever.low, "high": lever.high, "step": lever.step})
    if levers.hub_for_all is not None and d.hub is not None \
            and levers.hub_for_all != d.hub_for_all:
        if levers.hub_for_all:
            if not base.services[d.hub].enabled:
                _set(ov, f"services.{d.hub}.enabled", True)
            _set(ov, "pathway.single_point_of_access", d.hub)
        else:
            _set(ov, "pathway.single_point_of_access", None)
    if levers.referral_sd is not None and abs(levers.referral_sd - d.referral_sd) > 1e-9:
        _set(ov, "population.practices.referral_propensity_sd_log", _r(levers.referral_sd))
    if levers.money_weight is not None and abs(levers.money_weight - d.money_weight) > 1e-15:
        _set(ov, "behaviour.w_money_qaly_per_gbp", float(levers.money_weight))
    _set(ov, "run.scale", _r(levers.scale))
    if levers.seed is not None:
        _set(ov, "run.seed", int(levers.seed))
    if levers.years is not None:
        _set(ov, "run.years", int(levers.years))
    return ov


def build_config(city: str, rule: str, levers: Levers | None = None,
                 upload: Upload | None = None) -> CityConfig:
    """The config a run with these choices uses: the city's YAML plus one overlay, through
    `load_config` as on the command line; checked as `msksim run` checks it (payment rule
    available, pathway graph sound). Raises a one-line ConfigError."""
    levers = levers or Levers()
    base = base_config(city, upload)
    check_rule_available(base, rule)
    overlay = make_overlay(base, rule, levers)
    if city == UPLOADED:
        assert upload is not None
        cfg = validate_config(deep_merge(upload.data, overlay))  # what load_config does
    else:
        cfg = load_config(city_path(city), overlays=[overlay])
    check_rule_available(cfg, rule)
    people = cfg.population.registered_adults * cfg.run.scale
    if people > MAX_APP_PEOPLE:
        raise ConfigError(f"run.scale: {cfg.run.scale:g} of {cfg.population.registered_adults:,}"
                          f" adults is {people:,.0f} people; the app simulates at most "
                          f"{MAX_APP_PEOPLE:,} (lower 'Share of the city simulated', or use "
                          f"msksim run)")
    build_pathway(cfg)
    return cfg


def scale_max(base: CityConfig) -> float:
    """The largest share of this city the app will simulate (MAX_APP_PEOPLE)."""
    return max(SCALE_RANGE[0], min(SCALE_RANGE[1], math.floor(
        100 * MAX_APP_PEOPLE / base.population.registered_adults) / 100))


def overlay_yaml(city: str, rule: str, levers: Levers, upload: Upload | None = None) -> str:
    base = base_config(city, upload)
    head = (f"# msksim overlay from the workshop app: {base.name} under {rule}\n"
            f"# use with: {cli_command(city, rule, levers, upload)}\n")
    return head + yaml.safe_dump(make_overlay(base, rule, levers), sort_keys=False)


def cli_command(city: str, rule: str, levers: Levers, upload: Upload | None = None,
                overlay_file: str = OVERLAY_FILE) -> str:
    """The `msksim run` command line giving the same numbers (with the overlay file)."""
    base = base_config(city, upload)
    eff = effective(levers, city_defaults(base))
    args = ["msksim", "run"]
    if city == UPLOADED:
        args += ["--config", upload.name if upload else "city.yaml"]
    elif CITY_FILES[city] is not None:
        args += ["--config", f"configs/{CITY_FILES[city]}"]
    args += ["--overlay", overlay_file, "--contract", rule, "--years", str(eff["years"]),
             "--seed", str(eff["seed"]), "--scale", f"{_r(levers.scale):g}"]
    return shlex.join(args)


def resolved_yaml(cfg: CityConfig) -> str:
    """The full resolved config, every setting written out (loads back to the same config)."""
    return (f"# {cfg.name}: the resolved config of a workshop run (msksim)\n"
            + yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True))


# ----------------------------------------------------------------------------------------------
# an uploaded city config: read like config.read_yaml, from bytes, never from a path
# ----------------------------------------------------------------------------------------------
def _display_name(name: str) -> str:
    """Only the file's own name, shortened, in plain characters: never a path to act on, and
    nothing that could end a comment line in the overlay file or reach the page as markup."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ()]", "_", base).strip() or "upload.yaml"
    return base[:80]


#: characters an uploaded config may not hold in any name or text: the page shows these
#: strings, and markup (<, >), template braces ({, }), matplotlib's maths ($), escapes (\) or
#: control characters could make the browser or a chart act on them
_UNSAFE_TEXT = re.compile(r"[<>{}$\\`\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_text(data: Any, where: str = "") -> None:
    """Refuse an upload whose keys or strings hold characters the page could act on."""
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = [(f"[{i}]", v) for i, v in enumerate(data)]
    else:
        items = []
    for k, v in items:
        path = f"{where}{k}" if str(k).startswith("[") else f"{where}.{k}" if where else str(k)
        for text, what in ((k, "key"), (v, "value")):
            if isinstance(text, str) and (bad := _UNSAFE_TEXT.search(text)):
                raise ConfigError(
                    f"{path}: the {what} {text[:60]!r} holds {bad.group()!r}; names and text "
                    f"in an uploaded config may not contain < > {{ }} $ \\ ` or control "
                    f"characters (the app shows them on the page)")
        _check_text(v, path)


def md(text: Any) -> str:
    """Config text (a city, provider or service name) made inert inside Markdown: HTML
    escaped, and Markdown's table and emphasis characters shown as themselves."""
    out = html.escape(str(text), quote=False)
    for ch in "\\`*_[]|#":
        out = out.replace(ch, "\\" + ch)
    return out


def _count_values(data: Any, limit: int) -> None:
    """Refuse structures that YAML aliases expand beyond `limit` values (or make circular)."""
    stack, seen = [data], 0
    while stack:
        x = stack.pop()
        seen += 1
        if seen > limit:
            raise ValueError
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list | tuple):
            stack.extend(x)


def read_upload(name: str, source: bytes | BinaryIO, size: int | None = None) -> dict:
    """An uploaded YAML config as a mapping, with read_yaml's one-line errors.

    Reads at most MAX_CONFIG_BYTES + 1 bytes; parses with yaml.safe_load (no code, no tags);
    nothing in the file is used as a path."""
    shown = _display_name(name)
    if size is not None and size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {shown!r} is larger than {MAX_CONFIG_BYTES} bytes")
    raw = source if isinstance(source, bytes | bytearray) else source.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {shown!r} is larger than {MAX_CONFIG_BYTES} bytes")
    data = parse_yaml(bytes(raw), shown)  # the CLI's parsing and messages
    try:
        _count_values(data, MAX_UPLOAD_VALUES)
    except ValueError:
        raise ConfigError(f"config file {shown!r} has more than {MAX_UPLOAD_VALUES:,} values "
                          f"once its YAML aliases are expanded") from None
    return data


def load_upload(name: str, source: bytes | BinaryIO, size: int | None = None) -> Upload:
    """Read, validate and check an uploaded city config (as `msksim check --config` would)."""
    data = read_upload(name, source, size)
    _check_text(data)
    cfg = validate_config(data)
    build_pathway(cfg)
    return Upload(name=_display_name(name), data=data, cfg=cfg)


# ----------------------------------------------------------------------------------------------
# the levers in plain words
# ----------------------------------------------------------------------------------------------
def money_label(w: float) -> str:
    """A money weight as a slider tick: '£50k' (of margin per QALY), or 'none'."""
    if w <= 0:
        return "none"
    per = 1.0 / w
    return f"£{per / 1000:,.0f}k" if per >= 1000 else f"£{per:,.0f}"


def money_words(w: float) -> str:
    if w <= 0:
        return "Money does not count: decisions weigh only the patient's health."
    return (f"£{1 / w:,.0f} of a provider's own margin counts as much as one QALY (a year "
            f"of full health) for the patient.")


def money_weights(city_value: float) -> list[float]:
    """The weights the slider offers, with the city's own value among them."""
    ws = set(MONEY_WEIGHTS)
    if not any(abs(w - city_value) < 1e-15 for w in ws):
        ws.add(city_value)
    return sorted(ws)


def referral_words(sd: float) -> str:
    if sd <= 0:
        return "Every practice refers alike."
    ratio = math.exp(2 * 1.2816 * sd)
    return (f"The keenest tenth of practices refer about {ratio:.1f}× as readily (odds) as the "
            f"most reluctant tenth.")


def scale_words(scale: float, base: CityConfig) -> str:
    adults = base.population.registered_adults * scale
    return (f"{100 * scale:.0f}% of the city: about {adults:,.0f} adults simulated; counts are "
            f"shown for the whole city.")
