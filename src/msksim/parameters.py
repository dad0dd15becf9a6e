"""The parameter reference (`docs/parameters.md`), generated from the config tree's own metadata.

Every leaf setting of a city config is listed with its dotted path (as written in a YAML config
or overlay), type, unit, the city's value, the range validation accepts, whether the value is
sourced, calibrated, an assumption or a design choice, and its source text.

Where things come from:

- names, types, ranges, the config tree's defaults and each field's source text: the JSON
  Schema of the config tree (`config_schema()`, the same schema as `configs/schema.json`);
- the city's values and which of them its YAML sets: the validated `CityConfig`;
- the source of a value the city's YAML sets: that YAML line's trailing comment (found from the
  YAML parser's node positions, so `#` inside values is never mistaken for a comment);
- units: the field name's suffix (`_gbp`, `_weeks`, `_per_1000_per_year`, `_qaly`, ...).

The output is deterministic (config order throughout, no timestamps): the same config gives
byte-identical Markdown, so a test can check that the committed file is current.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from .config import BUILTIN_CONFIG, CityConfig, config_schema, load_config

DOC_PATH = Path("docs") / "parameters.md"
REGENERATE_COMMAND = "msksim params --out docs/parameters.md"
DEFAULT_CITY_YAML_LABEL = "configs/sheffield.yaml"

#: how a value's provenance is classed; every parameter has exactly one
STATUSES: tuple[str, ...] = ("sourced", "calibrated", "assumption", "design")
STATUS_MEANING: dict[str, str] = {
    "sourced": "the value, or the figure it rests on, cites a publication, dataset, rule or "
               "organisation",
    "calibrated": "tuned so that the city reproduces published figures",
    "assumption": "the modellers' judgement: no source gave the value (a number with no source "
                  "stated is counted here)",
    "design": "a modelling choice or a structural setting (a name, switch, option or route), "
              "not an empirical figure",
}

#: one plain-English line per top-level section (others fall back to the schema's description)
SECTION_INTROS: dict[str, str] = {
    "city": "The city's name and a note on what the config represents.",
    "population": "The adults registered with the city's GP practices: how many, their ages, "
                  "sex and deprivation, deaths, growth and health (EQ-5D), and how the "
                  "practices differ.",
    "conditions": "The MSK conditions people develop: how often they start, how long they last, "
                  "how likely people are to see their GP, how ill they feel, and what each route "
                  "of care is worth to them. One table per condition.",
    "procedures": "The operations surgeons offer: the tariff, the case mix (theatre time and "
                  "length of stay), outcomes after surgery and when surgeons offer them. One "
                  "table per procedure group.",
    "providers": "The organisations that run services and are paid for them, with their fixed "
                 "and marginal costs. One table per provider.",
    "services": "The places patients go (the nodes of the pathway): hub, community MSK, "
                "outpatient clinics and theatres, with their capacity, starting lists and "
                "distance. One table per service.",
    "pathway": "The routes between services that a patient can take (`gp` is the GP "
               "practices).",
    "behaviour": "How GPs, clinicians, patients and provider organisations decide: the weight "
                 "on health and on money, decision noise and frictions, the levers "
                 "organisations move, patients' own part, support for GPs, and the gaming "
                 "risks of paying for outcomes.",
    "waiting_list": "How theatre waiting lists are run: clinical priority, patients' deferrals, "
                    "removals, and offers of another provider.",
    "capacity": "Capacity changes from a given week (scenarios) and winter pressure on theatre "
                "sessions.",
    "contract": "How providers are paid: the rule in force, the tariff, and the COBIC, block "
                "and blended contracts.",
    "run": "How a simulation is run: seed, contract years, warm-up and scale.",
}

#: units read from a field name's ending, most specific first: (pattern, unit); a name with
#: `_per_` takes the unit of its part before the first `_per_` followed by "per ..." for the rest
_UNIT_RULES: tuple[tuple[str, str], ...] = (
    (r"(^|_)gbp$", "£"),
    (r"(^|_)qaly$", "QALY"),
    (r"_pct$", "%"),
    (r"(^|_)shares?(_|$)", "share (0-1)"),
    (r"(^|_)probability$", "probability (0-1)"),
    (r"(^|_)ratio$", "ratio"),
    (r"_to_tariff$", "× tariff"),
    (r"(^|_)factor$", "multiplier"),
    (r"(^|_)eq5d(_|$)", "EQ-5D utility"),
    (r"(^|_)week_of_year$", "week of the year"),
    (r"(^|_)week$", "week number"),
    (r"(^|_)weeks(_mean|_max)?$", "weeks"),
    (r"(^|_)minutes(_mean)?$", "minutes"),
    (r"(^|_)days(_mean|_sd)?$", "days"),
    (r"(^|_)years(_max)?$", "years"),
    (r"(^|_)km$", "km"),
    (r"(^|_)(sd|sigma)_log$", "log scale (SD)"),
    (r"(^|_)cv$", "coefficient of variation"),
)
_UNIT_SUFFIXES_STRIPPED = ("_by_age_band", "_by_year")
_PER_WORDS = {"1000": "1,000", "gbp": "£"}

#: a source text that cites something: a year, a named dataset, rule, body or paper
_CITATION = re.compile(
    r"\b(?:1[89]|20)\d\d\b"
    r"|\b(?:NHS|NHSI|ONS|PSSRU|HEP|RTT|FSSA|PROMs|ARUK|JBJS|CQUIN|Pulse|Oldham|Bedfordshire"
    r"|Cochrane|domain_facts)\b"
    r"|Sheffield (?:CCG|GB paper|City Council)|\bet al\b|\((?:[^)]*, )?R\)")

MAX_LIST_ITEMS_SHOWN = 8
_NONE_HERE = "— (none in this city)"


@dataclass
class Row:
    """One leaf parameter of the reference."""

    path: str
    section: str
    type_text: str
    unit: str
    value_text: str
    range_text: str
    status: str
    source: str
    set_in_city: bool
    template: bool


@dataclass
class Group:
    """One table: a section, a sub-part of a section, or one entry of a named collection."""

    path: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def unit_of(name: str) -> str:
    """The unit a field's name declares by its ending, or '' when it declares none."""
    for suffix in _UNIT_SUFFIXES_STRIPPED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    head, *per = name.split("_per_")
    unit = next((u for pattern, u in _UNIT_RULES if re.search(pattern, head)), "")
    if per:
        per[-1] = per[-1].removesuffix("_mean")
        words = [_PER_WORDS.get(p, p.replace("_", " ")) for p in per]
        unit = " ".join([unit] * bool(unit) + [f"per {w}" for w in words])
    return unit


def classify_source(text: str, numeric: bool) -> str:
    """Class a source text as one of STATUSES (a number with no source is an assumption)."""
    low = text.strip().lower()
    for status in ("assumption", "calibrated", "design"):
        if low.startswith(status):
            return status
    if _CITATION.search(text):
        return "sourced"
    if "calibrated" in low:
        return "calibrated"
    if "assumption" in low:
        return "assumption"
    return "assumption" if numeric else "design"


# ----------------------------------------------------------------------------------------------
# YAML trailing comments
# ----------------------------------------------------------------------------------------------
@dataclass
class _YamlKey:
    line: int
    block: bool  # the value starts on a later line (a block mapping or sequence)


class YamlComments:
    """Trailing comments of a YAML file, looked up by the dotted path of the key on that line."""

    def __init__(self, text: str | None = None) -> None:
        self.keys: dict[str, _YamlKey] = {}
        self.by_line: dict[int, str] = {}
        if not text:
            return
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return
        if root is None:
            return
        ends: dict[int, int] = {}
        self._walk(root, (), ends)
        lines = text.splitlines()
        for line, col in ends.items():
            rest = lines[line][col:].strip() if line < len(lines) else ""
            rest = rest.lstrip(":").strip()
            if rest.startswith("#"):
                self.by_line[line] = rest.lstrip("#").strip()

    def _walk(self, node: yaml.Node, path: tuple[str, ...], ends: dict[int, int]) -> None:
        # only scalars and flow collections end exactly where their text ends
        if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
            line, col = node.end_mark.line, node.end_mark.column
            ends[line] = max(ends.get(line, 0), col)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._walk(key, path, ends)
                child = (*path, str(key.value))
                self.keys[".".join(child)] = _YamlKey(key.start_mark.line,
                                                      value.start_mark.line > key.start_mark.line)
                self._walk(value, child, ends)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, str(i)), ends)

    def comment(self, path: str) -> str:
        """The trailing comment on the line of the key at `path` ('' if none)."""
        key = self.keys.get(path)
        return self.by_line.get(key.line, "") if key else ""

    def block_comment(self, path: str) -> str:
        """The comment on a container's own key line, when its content follows on later lines."""
        key = self.keys.get(path)
        return self.by_line.get(key.line, "") if key and key.block else ""


def _labels(label: str, name: str) -> bool:
    """Whether a comment's label ('share', 'LoS') names this field ('share', 'los_days_mean')."""
    low = label.lower()
    return bool(low) and (name == low or name.startswith(low + "_"))


def _own_part(comment: str, name: str, siblings: frozenset[str] = frozenset()) -> str:
    """From 'share: assumption; LoS: HEP p-THR' on a line setting several fields: the parts
    labelled with this field's name, else the parts not labelled with another field's name."""
    parts = []
    for part in comment.split(";"):
        m = re.match(r"\s*([A-Za-z_]\w*)\s*:\s*(.+)", part)
        parts.append((m.group(1) if m else "", m.group(2).strip() if m else "", part.strip()))
    own = [text for label, text, _ in parts if _labels(label, name)]
    if own:
        return "; ".join(own)
    if any(_labels(label, other) for label, _, _ in parts for other in siblings):
        return "; ".join(whole for label, _, whole in parts
                         if not any(_labels(label, other) for other in siblings))
    return comment


# ----------------------------------------------------------------------------------------------
# reading the schema
# ----------------------------------------------------------------------------------------------
_MISSING = object()


class _Schema:
    def __init__(self, schema: dict) -> None:
        self.root = schema
        self.defs: dict[str, dict] = schema.get("$defs", {})

    def deref(self, node: dict) -> dict:
        ref = node.get("$ref")
        return self.defs[ref.split("/")[-1]] if ref else node

    def model_of(self, prop: dict) -> dict | None:
        """The model schema of a field holding one model (or an optional one)."""
        options = [prop] + [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
        for option in options:
            if "$ref" in option:
                target = self.deref(option)
                if "properties" in target:
                    return target
        return None

    def members(self, node: dict) -> list[dict] | None:
        """The model schemas a dict entry or list item may be (several for a tagged union)."""
        if not isinstance(node, dict):
            return None
        refs = node.get("oneOf") or node.get("anyOf") or [node]
        out = [self.deref(r) for r in refs if "$ref" in r]
        return out if out and all("properties" in m for m in out) else None

    def dict_members(self, prop: dict) -> list[dict] | None:
        if prop.get("type") == "object" and "properties" not in prop:
            return self.members(prop.get("additionalProperties"))
        return None

    def list_members(self, prop: dict) -> list[dict] | None:
        if prop.get("type") == "array":
            return self.members(prop.get("items"))
        return None

    def member_for(self, members: list[dict], value: BaseModel) -> dict:
        name = type(value).__name__
        for m in members:
            if m.get("title") == name:
                return m
        return members[0]


def _numeric(prop: dict) -> bool:
    if "anyOf" in prop:
        return any(_numeric(p) for p in prop["anyOf"] if p.get("type") != "null")
    kind = prop.get("type")
    if kind in ("number", "integer"):
        return True
    if kind == "array":
        if "prefixItems" in prop:
            return all(_numeric(p) for p in prop["prefixItems"])
        return isinstance(prop.get("items"), dict) and _numeric(prop["items"])
    if kind == "object":
        extra = prop.get("additionalProperties")
        return isinstance(extra, dict) and _numeric(extra)
    return False


def _type_text(prop: dict) -> str:
    if "anyOf" in prop:
        parts = [_type_text(p) for p in prop["anyOf"] if p.get("type") != "null"]
        nullable = any(p.get("type") == "null" for p in prop["anyOf"])
        return " or ".join(parts) + (" or null" if nullable else "")
    if "enum" in prop or "const" in prop:
        return "choice"
    kind = prop.get("type")
    if kind == "array":
        if "prefixItems" in prop:
            return "[" + ", ".join(_type_text(p) for p in prop["prefixItems"]) + "]"
        items = prop.get("items")
        return f"list of {_type_text(items) if isinstance(items, dict) else 'values'}"
    if kind == "object":
        extra = prop.get("additionalProperties")
        inner = _type_text(extra) if isinstance(extra, dict) else "value"
        return f"map of name → {inner}"
    return {"integer": "int", "number": "float", "boolean": "bool", "string": "text"}.get(
        kind or "", kind or "any")


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def _bounds(prop: dict) -> str:
    low, high = "", ""
    if "minimum" in prop:
        low = f"{_num(prop['minimum'])} ≤"
    elif "exclusiveMinimum" in prop:
        low = f"{_num(prop['exclusiveMinimum'])} <"
    if "maximum" in prop:
        high = f"≤ {_num(prop['maximum'])}"
    elif "exclusiveMaximum" in prop:
        high = f"< {_num(prop['exclusiveMaximum'])}"
    if low and high:
        return f"{low} x {high}"
    if low:
        return f"x {'≥' if low.endswith('≤') else '>'} {low[:-2]}"
    if high:
        return f"x {high}"
    return ""


def _range_text(prop: dict, choices: list[str] | None = None) -> str:
    if choices:
        return "one of: " + ", ".join(choices)
    if "anyOf" in prop:
        parts = [_range_text(p) for p in prop["anyOf"] if p.get("type") != "null"]
        text = " or ".join(p for p in parts if p) or "any"
        return text + (", or null" if any(p.get("type") == "null" for p in prop["anyOf"]) else "")
    if "enum" in prop:
        return "one of: " + ", ".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return f"only {prop['const']}"
    kind = prop.get("type")
    if kind in ("number", "integer"):
        return _bounds(prop) or "any number"
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return "text"
    if kind == "array":
        lo, hi = prop.get("minItems"), prop.get("maxItems")
        if lo is not None and lo == hi:
            count = f"{lo} items"
        elif lo is not None and hi is not None:
            count = f"{lo}-{hi} items"
        elif lo is not None:
            count = f"at least {lo} item{'s' if lo != 1 else ''}"
        elif hi is not None:
            count = f"at most {hi} items"
        else:
            count = "any number of items"
        items = prop.get("items")
        inner = ""
        if isinstance(items, dict) and "prefixItems" in items:
            inner = "each [" + ", ".join(_type_text(p) for p in items["prefixItems"]) + "]"
        elif isinstance(items, dict) and _range_text(items) not in ("any", "any number", "text"):
            inner = "each " + _range_text(items)
        return count + (f", {inner}" if inner else "")
    if kind == "object":
        extra = prop.get("additionalProperties")
        inner = _range_text(extra) if isinstance(extra, dict) else ""
        return f"any names; each value {inner}" if inner not in ("", "any", "any number") else (
            "any names")
    return "any"


# ----------------------------------------------------------------------------------------------
# formatting values
# ----------------------------------------------------------------------------------------------
def _plain(value: Any) -> str:
    if value == "":
        return '""'
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _sentence(text: str) -> str:
    text = _cell(text)
    if text and text[-1] not in ".!?:":
        text += "."
    return text[:1].upper() + text[1:]


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _value_cell(value: Any) -> tuple[str, bool]:
    """The value for a table cell, and whether it is too long and listed in full below."""
    if isinstance(value, list) and len(value) > MAX_LIST_ITEMS_SHOWN:
        head = ", ".join(_code(_plain(v)) for v in value[:3])
        return f"{len(value)} items: {head}, … (all listed below the table)", True
    return _code(_plain(value)), False


# ----------------------------------------------------------------------------------------------
# walking the config
# ----------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, cfg: CityConfig, comments: YamlComments, yaml_label: str) -> None:
        self.schema = _Schema(config_schema())
        self.cfg = cfg
        self.comments = comments
        self.yaml_label = yaml_label
        self.groups: dict[str, Group] = {}
        self.section_order: list[str] = []

    # groups ------------------------------------------------------------------------------------
    def group(self, path: str, intro: str = "") -> Group:
        if path not in self.groups:
            self.groups[path] = Group(path, intro)
        return self.groups[path]

    def build(self) -> None:
        city = self.group("city", SECTION_INTROS["city"])
        self.section_order.append("city")
        root = self.schema.root
        for name, prop in root["properties"].items():
            value = getattr(self.cfg, name)
            is_set = name in self.cfg.model_fields_set
            model = self.schema.model_of(prop)
            entries = self.schema.dict_members(prop)
            if model is not None or entries is not None:
                intro = SECTION_INTROS.get(name) or prop.get("description") or (
                    model or {}).get("description", "")
                section = self.group(name, _sentence(intro))
                self.section_order.append(name)
                if model is not None:
                    self.walk_model(model, value, name, name, is_set, section, split=True,
                                    default=prop.get("default"))
                else:
                    self.walk_entries(prop, value, name, name, is_set, entries)
            else:
                self.walk_field(name, prop, value, "city", name, is_set, city,
                                default=prop.get("default", _MISSING), split=False)

    def walk_entries(self, prop: dict, value: dict | None, path: str, section: str,
                     is_set: bool, members: list[dict]) -> None:
        """A top-level named collection (conditions, services...): one table per entry."""
        value = value or {}
        choices = self._choices(prop.get("additionalProperties", {}))
        seen: set[str] = set()
        for key, entry in value.items():
            member = self.schema.member_for(members, entry)
            seen.add(member.get("title", ""))
            entry_path = f"{path}.{key}"
            grp = self.group(entry_path, self._entry_intro(entry, entry_path))
            self.walk_model(member, entry, entry_path, section, is_set, grp, split=False,
                            default=None, choices=choices)
        for member in members:
            if member.get("title", "") in seen:
                continue
            entry_path = f"{path}.<name>"
            tag = next((member["properties"].get(k, {}).get("const") for k in choices), None)
            label = f" (kind {tag or member.get('title', '')})" if len(members) > 1 else ""
            grp = self.group(entry_path + label,
                             f"This city has no {path} entry{label}; its settings would be:")
            self.walk_model(member, None, entry_path, section, False, grp, split=False,
                            default=None, choices=choices)

    def _entry_intro(self, entry: BaseModel, path: str) -> str:
        parts = []
        label = getattr(entry, "label", "") or getattr(entry, "name", "")
        if isinstance(label, str) and label:
            parts.append(label + ".")
        comment = self.comments.block_comment(path)
        if comment:
            parts.append(f"{self.yaml_label}: {comment}")
        return _cell(" ".join(parts))

    def _choices(self, node: dict) -> dict[str, list[str]]:
        disc = node.get("discriminator") if isinstance(node, dict) else None
        if not disc:
            return {}
        return {disc["propertyName"]: list(disc.get("mapping", {}))}

    def walk_model(self, model: dict, inst: BaseModel | None, path: str, section: str,
                   is_set: bool, grp: Group, split: bool, default: Any,
                   choices: dict[str, list[str]] | None = None, unit_hint: str = "") -> None:
        """The fields of one model; `split` gives nested models a table of their own, and
        `unit_hint` is the unit its fields take when their own names give none."""
        defaults = default if isinstance(default, dict) else {}
        siblings = frozenset(model["properties"])
        for name, prop in model["properties"].items():
            value = getattr(inst, name) if inst is not None else _MISSING
            field_set = is_set and inst is not None and name in inst.model_fields_set
            own_default = defaults.get(name, prop.get("default", _MISSING))
            self.walk_field(f"{path}.{name}", prop, value, section, name, field_set, grp,
                            default=own_default, split=split, choices=choices,
                            siblings=siblings, unit_hint=unit_hint)

    def walk_field(self, path: str, prop: dict, value: Any, section: str, name: str,
                   is_set: bool, grp: Group, default: Any, split: bool,
                   choices: dict[str, list[str]] | None = None,
                   siblings: frozenset[str] = frozenset(), unit_hint: str = "") -> None:
        model = self.schema.model_of(prop)
        entries = self.schema.dict_members(prop)
        items = self.schema.list_members(prop)
        description = _cell(prop.get("description", ""))
        if model is not None:
            if split:
                sub = self.group(path, _sentence(description or model.get("description", "")))
            else:
                sub = grp
                self._note_container(grp, path, description or model.get("description", ""))
            inst = value if isinstance(value, BaseModel) else None
            if inst is None:
                self._note(sub, f"`{path}` is not set in this city (null); its settings would "
                                f"be as listed.")
            self.walk_model(model, inst, path, section, is_set, sub, split=False,
                            default=default if default is not _MISSING else None,
                            unit_hint=unit_of(name))
            return
        if entries is not None or items is not None:
            self._note_container(grp, path, description)
            members = entries if entries is not None else items
            sub_choices = self._choices(prop.get("additionalProperties", {})) if entries else {}
            pairs: list[tuple[str, Any]] = []
            if isinstance(value, dict):
                pairs = list(value.items())
            elif isinstance(value, list):
                pairs = [(str(i), v) for i, v in enumerate(value)]
            seen: set[str] = set()
            for key, entry in pairs:
                member = self.schema.member_for(members, entry)
                seen.add(member.get("title", ""))
                self._note_container(grp, f"{path}.{key}", "")
                self.walk_model(member, entry, f"{path}.{key}", section, is_set, grp, split=False,
                                default=None, choices=sub_choices)
            placeholder = "<name>" if entries is not None else "<i>"
            for member in members:
                if member.get("title", "") not in seen:
                    self.walk_model(member, None, f"{path}.{placeholder}", section, False, grp,
                                    split=False, default=None, choices=sub_choices)
            return
        self.add_leaf(path, prop, value, section, name, is_set, grp, default,
                      (choices or {}).get(name), siblings, unit_hint)

    def _note(self, grp: Group, text: str) -> None:
        if text not in grp.notes:
            grp.notes.append(text)

    def _note_container(self, grp: Group, path: str, description: str) -> None:
        parts = []
        if description:
            parts.append(_cell(description))
        comment = self.comments.block_comment(path)
        if comment:
            parts.append(f"{self.yaml_label}: {_cell(comment)}")
        if parts:
            self._note(grp, f"`{path}`: " + " — ".join(parts))

    def add_leaf(self, path: str, prop: dict, value: Any, section: str, name: str,
                 is_set: bool, grp: Group, default: Any, choices: list[str] | None,
                 siblings: frozenset[str], unit_hint: str) -> None:
        numeric = _numeric(prop)
        description = _cell(prop.get("description", ""))
        unit = unit_of(name) or unit_hint
        template = value is _MISSING
        long_list = False
        if template:
            value_text = _NONE_HERE
        else:
            plain = to_jsonable_python(value)
            value_text, long_list = _value_cell(plain)
            if default is not _MISSING and plain != default and is_set:
                default_text = _plain(default)
                if len(default_text) <= 60:
                    value_text += f" (default {_code(default_text)})"
        comment = self.comments.comment(path) if is_set else ""
        comment = _cell(_own_part(comment, name, siblings - {name}))
        if comment:
            status = classify_source(comment, numeric)
            source = f"{self.yaml_label}: {comment}"
            if description and description != comment:
                source += f" — field: {description}"
        else:
            status = classify_source(description, numeric)
            source = description or "—"
            differs = not template and (default is _MISSING
                                        or to_jsonable_python(value) != default)
            if is_set and differs and numeric and status == "sourced":
                # the source cited is the default's: the city's own value has none
                status = "assumption"
                source = (f"set in {self.yaml_label} with no source given; the field's source "
                          f"(for its default): {description}")
        grp.rows.append(Row(path, section, _type_text(prop), unit or "—", value_text,
                            _cell(_range_text(prop, choices)), status, source, is_set,
                            template))
        if long_list:
            full = ", ".join(_code(_plain(v)) for v in to_jsonable_python(value))
            self._note(grp, f"`{path}` ({len(value)} items): {full}")

    # output ------------------------------------------------------------------------------------
    def rows(self) -> Iterator[Row]:
        for grp in self.groups.values():
            yield from grp.rows


def _counts(rows: list[Row]) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    for row in rows:
        out[row.status] += 1
    return out


def _render(b: _Builder) -> str:
    cfg = b.cfg
    rows = list(b.rows())
    totals = _counts(rows)
    n_set = sum(r.set_in_city for r in rows)
    n_template = sum(r.template for r in rows)
    n_yaml_source = sum(r.source.startswith(f"{b.yaml_label}:") for r in rows)
    out: list[str] = []
    w = out.append
    w("# Parameter reference")
    w("")
    w(f"Every setting of the default city ({cfg.name}) with its type, unit, value, the range "
      f"the config accepts and where the value comes from.")
    w("")
    w(f"Generated from the config tree's own metadata (`src/msksim/config.py`, the same as "
      f"`configs/schema.json`) and the city's config (`{b.yaml_label}`) by "
      f"`{REGENERATE_COMMAND}`. Do not edit it by hand: a test fails when it is stale.")
    w("")
    w("## Summary")
    w("")
    template_text = (f", of which {n_template} describe parts this city does not use "
                     f"(shown with `<name>` or `<i>` and no value)" if n_template else "")
    w(f"**{len(rows)} parameters**{template_text}: "
      + ", ".join(f"**{totals[s]} {s}**" for s in STATUSES) + ".")
    w("")
    w(f"{n_set} values are set in `{b.yaml_label}` ({n_yaml_source} of them with a source "
      f"comment there); the other {len(rows) - n_set} take the config tree's defaults.")
    w("")
    w("| Section | Parameters | " + " | ".join(s.capitalize() for s in STATUSES)
      + f" | Set in {b.yaml_label} |")
    w("| --- | ---: | " + " | ".join("---:" for _ in STATUSES) + " | ---: |")
    for section in b.section_order:
        sec_rows = [r for r in rows if r.section == section]
        counts = _counts(sec_rows)
        w(f"| [{section}](#{section}) | {len(sec_rows)} | "
          + " | ".join(str(counts[s]) for s in STATUSES)
          + f" | {sum(r.set_in_city for r in sec_rows)} |")
    w(f"| **total** | **{len(rows)}** | " + " | ".join(f"**{totals[s]}**" for s in STATUSES)
      + f" | **{n_set}** |")
    w("")
    w("## How to read the tables")
    w("")
    w("- **Parameter**: the dotted path, as written in a city config or an overlay "
      "(`services.sth_theatres.sessions_per_week` is `sessions_per_week:` under `sth_theatres:` "
      "under `services:`). Named collections (conditions, procedures, providers, services, "
      "case types) use the city's own names; list items are numbered from 0.")
    w("- **Type**: int, float, bool, text, choice, list or map (a mapping from names to "
      "values).")
    w("- **Unit**: read from the name's ending (`_gbp` £, `_qaly` QALY, `_weeks` weeks, "
      "`_per_1000_per_year` per 1,000 per year, `_share` a share from 0 to 1, ...); a "
      "lever's `initial`, `low`, `high` and `step` take the lever's unit; — where the name "
      "gives none.")
    w("- **Value**: the default city's value, written as in YAML; \"(default ...)\" follows "
      "when the city sets a value other than the config tree's default.")
    w("- **Range**: what validation accepts for the field on its own. Rules across fields "
      "(shares that sum to 1, names that must exist, sessions that fit the theatres) are "
      "checked too: `msksim check --config FILE` explains any breach in one line.")
    w("- **Status**: where the value comes from:")
    for s in STATUSES:
        w(f"  - *{s}*: {STATUS_MEANING[s]}.")
    w("  It is read from the source text: a text starting with \"assumption\", \"calibrated\" "
      "or \"design\" is that; otherwise one citing a year, dataset, rule or body is "
      "*sourced*.")
    w(f"- **Source**: for a value set in `{b.yaml_label}`, that line's comment (the city's own "
      f"source), then the field's own text; otherwise the field's text in the config tree, "
      f"which gives the source of its default.")
    for section in b.section_order:
        for grp in b.groups.values():
            if grp.path != section and not grp.path.startswith(section + "."):
                continue
            if grp.path == section:
                w("")
                w(f"## {section}")
                w("")
                w(grp.intro)
            else:
                w("")
                w(f"### {grp.path}")
                if grp.intro:
                    w("")
                    w(grp.intro)
            if grp.rows:
                w("")
                w("| Parameter | Type | Unit | Value | Range | Status | Source |")
                w("| --- | --- | --- | --- | --- | --- | --- |")
                for r in grp.rows:
                    w(f"| `{r.path}` | {r.type_text} | {r.unit} | {r.value_text} | "
                      f"{r.range_text} | {r.status} | {r.source} |")
            if grp.notes:
                w("")
                for note in grp.notes:
                    w(f"- {note}")
    return "\n".join(out) + "\n"


def parameter_reference(cfg: CityConfig | None = None,
                        yaml_path: str | Path | None = None) -> str:
    """The parameter reference as Markdown.

    With no arguments: the built-in default city, with the trailing comments of its YAML as
    the sources of the values it sets. Give `cfg` (and optionally the YAML it came from) for
    another city.
    """
    label = DEFAULT_CITY_YAML_LABEL
    if cfg is None:
        cfg = load_config()
        yaml_path = BUILTIN_CONFIG
    elif yaml_path is not None:
        label = Path(yaml_path).name
    else:
        label = "the city's config"
    text = Path(yaml_path).read_text(encoding="utf-8") if yaml_path is not None else None
    builder = _Builder(cfg, YamlComments(text), label)
    builder.build()
    return _render(builder)


def write_parameter_reference(path: str | Path, cfg: CityConfig | None = None) -> Path:
    """Write the reference to `path` atomically (a temporary file beside it, then os.replace),
    so a reader never sees half a file. Returns the path written."""
    text = parameter_reference(cfg)
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{str(target)!r} is a folder; give a file name such as "
                                f"{DOC_PATH}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
