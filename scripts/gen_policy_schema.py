"""Generate ``modelsec/policy/policy.schema.json``: the JSON Schema of the policy file.

Built from the rule catalog (rule names, their editable fields, source types), so editors
complete rule names and fields; rule names are also accepted in other letter cases by
``modelsec policy check`` (the schema describes the canonical spelling ``policy export`` writes).

Usage::

    python scripts/gen_policy_schema.py           # rewrite the schema
    python scripts/gen_policy_schema.py --check   # exit 1 if the committed schema is stale
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "modelsec" / "policy" / "policy.schema.json"
sys.path.insert(0, str(ROOT))

from modelsec.policy.catalog import BUILTIN_RULES, FORMAT_IDENTIFIERS  # noqa: E402
from modelsec.policy.document import GROUP_SOURCE_TYPES, STATES  # noqa: E402
from modelsec.policy.policyfile import FIELD_KEYS  # noqa: E402


def _str_list(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def build() -> dict[str, Any]:
    """The schema as a dict."""
    field_props: dict[str, Any] = {}
    for r in BUILTIN_RULES:
        for f in r.editable_fields:
            desc = f"{f['description']} (rule '{r.name}')"
            prop = _str_list(desc)
            if f["attribute_name"] == "approved_formats":
                prop["items"] = {"type": "string", "enum": list(FORMAT_IDENTIFIERS)}
            field_props[f["attribute_name"]] = prop
    assert set(field_props) == set(FIELD_KEYS)
    rule_props: dict[str, Any] = {}
    for r in BUILTIN_RULES:
        fields = {k: {"$ref": f"#/$defs/fields/{k}"} for k in r.default_values}
        obj: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {"state": {"$ref": "#/$defs/state"}},
        }
        if fields:
            obj["properties"]["field_values"] = {
                "type": "object",
                "additionalProperties": False,
                "properties": fields,
            }
        rule_props[r.name] = {
            "description": f"{r.description} Applies to: {', '.join(r.compatible_sources)}; "
            f"default {r.default_state}.",
            "oneOf": [{"$ref": "#/$defs/state"}, obj],
        }
    generic_rule = {
        "oneOf": [
            {"$ref": "#/$defs/state"},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "state": {"$ref": "#/$defs/state"},
                    "field_values": {
                        "type": "object",
                        "additionalProperties": _str_list("field values"),
                    },
                },
            },
        ]
    }
    shorthand = {k: {"$ref": f"#/$defs/fields/{k}"} for k in FIELD_KEYS}
    rules = {
        "type": "object",
        "description": "Built-in rules by name: a state, or {state, field_values}. Rules not "
        "named keep their default state and values.",
        "properties": rule_props,
        "additionalProperties": generic_rule,
    }
    condition: dict[str, Any] = {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "key", "operator"],
                "properties": {
                    "type": {"const": "label"},
                    "key": {"type": "string", "minLength": 1},
                    "operator": {"enum": ["equals", "not_equals", "exists", "not_exists"]},
                    "value": {"type": "string"},
                },
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "value"],
                "oneOf": [{"required": ["rule"]}, {"required": ["rule_uuid"]}],
                "properties": {
                    "type": {"const": "rule_result"},
                    "rule": {
                        "type": "string",
                        "description": "a built-in rule's name or a custom rule's name",
                    },
                    "rule_uuid": {"type": "string"},
                    "operator": {"const": "equals"},
                    "value": {"enum": ["PASSED", "FAILED"]},
                },
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["operator", "conditions"],
                "properties": {
                    "operator": {"enum": ["and", "or"]},
                    "conditions": {
                        "type": "array",
                        "minItems": 2,
                        "items": {"$ref": "#/$defs/condition"},
                    },
                },
            },
        ]
    }
    custom_rule = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "condition"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "compatible_sources": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(GROUP_SOURCE_TYPES)},
            },
            "condition": {"$ref": "#/$defs/condition"},
            "violation_message": {"type": "string"},
            "remediation_message": {"type": "string"},
            "rule_action": {"enum": ["FAIL", "PASS"]},
            "archived": {"type": "boolean"},
            "groups": {
                "type": "object",
                "description": "security group name -> the rule's state in that group",
                "additionalProperties": {"$ref": "#/$defs/state"},
            },
            "state": {
                "$ref": "#/$defs/state",
                "description": "offline state when no --group is given (original format)",
            },
            "uuid": {"type": "string"},
        },
    }
    group = {
        "type": "object",
        "additionalProperties": False,
        "required": ["source_type"],
        "properties": {
            "source_type": {"enum": list(GROUP_SOURCE_TYPES)},
            "description": {"type": "string"},
            "rules": {"$ref": "#/$defs/rules"},
            **shorthand,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://modelsec.invalid/policy.schema.json",
        "title": "modelsec policy file",
        "description": "Security groups, rule states and field values, and custom rules: "
        "applied to a tenant with 'modelsec policy apply', used offline with "
        "'modelsec scan --offline --policy FILE [--group NAME]'.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "$schema": {"type": "string"},
            "version": {"const": 1},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "scope": {
                "type": "object",
                "additionalProperties": False,
                "description": "What 'policy apply --prune' may remove besides what the file "
                "names: fnmatch patterns of group and custom-rule names.",
                "properties": {
                    "security_groups": {"type": "array", "items": {"type": "string"}},
                    "custom_rules": {"type": "array", "items": {"type": "string"}},
                },
            },
            "rules": {"$ref": "#/$defs/rules"},
            **shorthand,
            "security_groups": {
                "type": "object",
                "description": "Security groups by name.",
                "additionalProperties": {"$ref": "#/$defs/group"},
            },
            "custom_rules": {"type": "array", "items": {"$ref": "#/$defs/custom_rule"}},
        },
        "$defs": {
            "state": {"enum": list(STATES)},
            "fields": field_props,
            "rules": rules,
            "group": group,
            "condition": condition,
            "custom_rule": custom_rule,
        },
    }


def render() -> str:
    """The schema file's text."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the schema file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the schema is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run python scripts/gen_policy_schema.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
