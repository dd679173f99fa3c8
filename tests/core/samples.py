"""Valid response bodies per the vendored specs, each carrying an unknown field."""

from __future__ import annotations

from typing import Any

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"
TS = "2026-05-04T10:00:00Z"
BASE = {"tsg_id": "1234567890", "created_at": TS, "updated_at": TS}


def scan(uuid: str = U1, outcome: str = "ALLOWED", **extra: Any) -> dict[str, Any]:
    return {
        "uuid": uuid,
        **BASE,
        "model_uri": "hf://org/model",
        "owner": "someone",
        "scan_origin": "MODEL_SECURITY_SDK",
        "security_group_uuid": U2,
        "security_group_name": "Default HUGGING_FACE",
        "eval_outcome": outcome,
        "source_type": "HUGGING_FACE",
        "labels": [{"key": "team", "value": "ml"}],
        "future_field": {"nested": [1, 2]},
        **extra,
    }


def evaluation(uuid: str = U1) -> dict[str, Any]:
    return {
        "uuid": uuid,
        **BASE,
        "result": "FAILED",
        "violation_count": 1,
        "rule_instance_uuid": U2,
        "scan_uuid": U3,
        "rule_name": "Load Time Code Execution Check",
        "rule_description": "d",
        "rule_instance_state": "BLOCKING",
        "future_field": 1,
    }


def violation(uuid: str = U1) -> dict[str, Any]:
    return {
        "uuid": uuid,
        **BASE,
        "description": "os.system reached at load",
        "rule_instance_uuid": U2,
        "rule_name": "Load Time Code Execution Check",
        "rule_description": "d",
        "rule_instance_state": "BLOCKING",
        "remediation": {"steps": ["remove it"], "url": "https://docs.test/x"},
        "threat": "PAIT-NEW-999",
        "file": "model.pkl",
        "future_field": True,
    }


def file(uuid: str = U1) -> dict[str, Any]:
    return {
        "uuid": uuid,
        **BASE,
        "path": "/model.pkl",
        "parent_path": "/",
        "type": "FILE",
        "result": "QUARANTINED",
        "model_version_uuid": U2,
        "future_field": "x",
    }


def model(uuid: str = U1) -> dict[str, Any]:
    return {"uuid": uuid, **BASE, "name": "org/model", "latest_version_outcome": "BLOCKED", "x": 1}


def model_version(uuid: str = U1) -> dict[str, Any]:
    return {"uuid": uuid, **BASE, "revision": "main", "model_uuid": U2, "license": "mit", "x": 1}


def rule(uuid: str = U1) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": "Stored In Approved File Format",
        "description": "d",
        "rule_type": "ARTIFACT",
        "compatible_sources": ["ALL"],
        "default_state": "BLOCKING",
        "remediation": {"description": "d", "steps": ["s"], "url": "https://docs.test"},
        "editable_fields": [
            {
                "attribute_name": "approved_formats",
                "type": "list",
                "display_name": "Approved formats",
                "display_type": "LIST",
            }
        ],
        "constant_values": {},
        "default_values": {"approved_formats": ["safetensors"]},
        "x": 1,
    }


def group(uuid: str = U1, state: str = "ACTIVE") -> dict[str, Any]:
    return {
        "uuid": uuid,
        **BASE,
        "name": "hf-strict",
        "description": "",
        "source_type": "HUGGING_FACE",
        "state": state,
        "is_tombstone": False,
        "x": 1,
    }


def rule_instance(uuid: str = U1) -> dict[str, Any]:
    return {
        "uuid": uuid,
        **BASE,
        "security_group_uuid": U2,
        "security_rule_uuid": U3,
        "state": "ALLOWING",
        "rule": rule(U3),
        "field_values": {"approved_formats": ["safetensors"]},
        "x": 1,
    }


def custom_rule(uuid: str = U1) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "tsg_id": "1234567890",
        "name": "needs owner",
        "description": "",
        "compatible_sources": ["LOCAL"],
        "condition": {
            "operator": "and",
            "conditions": [
                {"type": "label", "key": "owner", "operator": "exists"},
                {"type": "rule_result", "rule_uuid": U2, "operator": "equals", "value": "FAILED"},
            ],
        },
        "violation_message": "m",
        "remediation_message": None,
        "is_archived": False,
        "created_by": None,
        "updated_by": None,
        "created_at": TS,
        "x": 1,
    }


def page(key: str, items: list[Any], total: int | None = None) -> dict[str, Any]:
    return {"pagination": {"total_items": total}, key: items, "x": 1}
