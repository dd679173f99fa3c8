"""The rule catalog, scan evaluation (every family, states, formats, HF metadata, custom rules)
and the policy-file loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelsec.policy import (
    BUILTIN_RULES,
    DEFAULT_APPROVED_FORMATS,
    FORMAT_IDENTIFIERS,
    CustomRuleInstance,
    PolicyFileError,
    RuleInstance,
    default_rule_instances,
    evaluate_scan,
    load_policy,
    rule_by_name,
    rule_for_threat,
)


def details(*files: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = {
        "scanner_version": "t",
        "time_started": "2026-01-01T00:00:00Z",
        "files": list(files),
        "total_files_scanned": len(files),
        "total_files_skipped": 0,
        "model_formats": [],
        "model_size_bytes": 0,
        "scan_duration_ms": 1,
    }
    d.update(kw)
    return d


def f(
    path: str = "model.safetensors",
    formats: list[str] | None = None,
    *threats: str | None,
    status: str = "SCANNED",
) -> dict[str, Any]:
    return {
        "file_path": path,
        "modelscan_status": status,
        "blob_id": "b",
        "sha256": "ab" * 32,
        "formats": formats if formats is not None else ["safetensors"],
        "issues_detected": [
            {
                "description": f"issue {t}",
                "source": path,
                "threat": t,
                "module": "os",
                "operator": "system",
            }
            for t in threats
        ],
    }


def with_states(source: str, **states: str) -> list[RuleInstance]:
    out = default_rule_instances(source)
    for ri in out:
        key = ri.rule.name
        if key in states:
            ri.state = states[key]
    return out


def test_catalog_matches_contract() -> None:
    assert len(BUILTIN_RULES) == 12
    assert len({r.uuid for r in BUILTIN_RULES}) == 12
    assert all(r.uuid.startswith("550e8400-e29b-41d4-a716-4466554400") for r in BUILTIN_RULES)
    observed = {
        "06": "License Exists",
        "07": "License Is Valid For Use",
        "08": "Load Time Code Execution Check",
        "0a": "Model Architecture Backdoor Check",
        "0b": "Known Framework Operators Check",
    }
    for nn, name in observed.items():
        assert rule_by_name(name).uuid.endswith(nn)
    assert rule_by_name("Stored In Approved Location").default_state == "DISABLED"
    assert set(DEFAULT_APPROVED_FORMATS) <= set(FORMAT_IDENTIFIERS)
    assert "pickle" not in DEFAULT_APPROVED_FORMATS
    edit = {r.name: [e["attribute_name"] for e in r.editable_fields] for r in BUILTIN_RULES}
    assert edit["Organization Is Blocked"] == ["deny_orgs"]
    assert edit["Organization Verified By Hugging Face"] == ["approved_org_models"]


@pytest.mark.parametrize(
    ("threat", "rule"),
    [
        ("PAIT-PKL-100", "Load Time Code Execution Check"),
        ("PAIT-KERAS-102", "Load Time Code Execution Check"),
        ("PAIT-GGUF-101", "Load Time Code Execution Check"),
        ("PAIT-ARV-100", "Load Time Code Execution Check"),
        ("PAIT-PKL-101", "Suspicious Model Components Check"),
        ("PAIT-PYTCH-101", "Suspicious Model Components Check"),
        ("PAIT-ONNX-200", "Model Architecture Backdoor Check"),
        ("PAIT-TF-200", "Model Architecture Backdoor Check"),
        ("PAIT-KERAS-300", "Runtime Code Execution Check"),
        ("PAIT-TF-302", "Runtime Code Execution Check"),
        ("PAIT-LMAFL-300", "Runtime Code Execution Check"),
        ("PAIT-TF-301", "Known Framework Operators Check"),
        ("PAIT-LITERT-301", "Known Framework Operators Check"),
        (None, "Suspicious Model Components Check"),
        ("SOMETHING-NEW", "Suspicious Model Components Check"),
    ],
)
def test_threat_families(threat: str | None, rule: str) -> None:
    assert rule_for_threat(threat) == rule
    r = evaluate_scan(
        details(f("m.safetensors", None, threat)),
        default_rule_instances("LOCAL"),
        source_type="LOCAL",
    )
    failed = {e.rule_name for e in r.evaluations if e.result == "FAILED"}
    assert failed == {rule}
    assert r.outcome == "BLOCKED"
    v = r.violations[0]
    assert (v.file, v.module, v.operator, v.threat) == ("m.safetensors", "os", "system", threat)
    assert v.remediation_steps
    assert v.remediation_url.startswith("https://")


def test_states_allowing_disabled_and_summary() -> None:
    d = details(f("a.pkl", ["pickle"], "PAIT-PKL-100"))
    r = evaluate_scan(
        d,
        with_states(
            "LOCAL",
            **{
                "Load Time Code Execution Check": "ALLOWING",
                "Stored In Approved File Format": "ALLOWING",
            },
        ),
        source_type="LOCAL",
    )
    assert r.outcome == "ALLOWED"
    assert len(r.violations) == 2
    assert r.summary == {"rules_passed": 4, "rules_failed": 2, "total_rules": 6}
    r = evaluate_scan(
        d,
        with_states(
            "LOCAL",
            **{
                "Load Time Code Execution Check": "DISABLED",
                "Stored In Approved File Format": "DISABLED",
            },
        ),
        source_type="LOCAL",
    )
    assert r.outcome == "ALLOWED"
    assert r.summary["total_rules"] == 4
    assert not r.violations


def test_approved_formats() -> None:
    d = details(f("pytorch_model.bin", ["pickle"]), f("config.json", ["json"]), f("README.md", []))
    r = evaluate_scan(d, default_rule_instances("LOCAL"), source_type="LOCAL", model_uri="/m")
    assert [v.description for v in r.violations] == [
        "Model file 'pytorch_model.bin' is stored in an unapproved format: pickle"
    ]
    assert r.violations[0].threat == "UNAPPROVED_FORMATS"
    insts = default_rule_instances("LOCAL")
    for ri in insts:
        if ri.rule.name == "Stored In Approved File Format":
            ri.field_values["approved_formats"] = ["pickle", "json"]
    assert evaluate_scan(d, insts, source_type="LOCAL").outcome == "ALLOWED"


def test_error_outcomes_and_file_errors() -> None:
    r = evaluate_scan(
        details(error_code="SCAN_ERROR", error_message="boom"),
        default_rule_instances("LOCAL"),
        source_type="LOCAL",
    )
    assert (r.outcome, r.error_code, r.error_message) == ("ERROR", "SCAN_ERROR", "boom")
    r = evaluate_scan(
        details(f("x.bin", [], status="ERROR")),
        default_rule_instances("LOCAL"),
        source_type="LOCAL",
    )
    assert r.outcome == "ALLOWED"
    assert {e.result for e in r.evaluations} == {"ERROR"}


def test_location_rule() -> None:
    insts = with_states("S3", **{"Stored In Approved Location": "BLOCKING"})
    for ri in insts:
        if ri.rule.name == "Stored In Approved Location":
            ri.field_values["approved_locations"] = ["s3://good/"]
    assert (
        evaluate_scan(details(f()), insts, source_type="S3", model_uri="s3://good/m").outcome
        == "ALLOWED"
    )
    r = evaluate_scan(details(f()), insts, source_type="S3", model_uri="s3://bad/m")
    assert r.outcome == "BLOCKED"
    assert "approved location" in r.violations[0].description


def hf(meta: dict[str, Any], **fields: list[str]) -> set[str]:
    insts = default_rule_instances("HUGGING_FACE")
    for ri in insts:
        for k, v in fields.items():
            if k in ri.rule.default_values:
                ri.field_values[k] = v
    r = evaluate_scan(
        details(f()), insts, source_type="HUGGING_FACE", model_uri="hf://x", metadata=meta
    )
    return {e.rule_name for e in r.evaluations if e.result == "FAILED"}


def test_hf_metadata_rules() -> None:
    good = {"license": "Apache-2.0", "organization": "google", "model_id": "google/bert"}
    assert hf(good) == set()
    assert hf({**good, "license": None}) == {"License Exists"}
    assert hf({**good, "license": "cc-by-nc-4.0"}) == {"License Is Valid For Use"}
    assert hf(good, approved_licenses=["mit"]) == {"License Is Valid For Use"}
    assert hf(good, denied_org_models=["google/*"]) == {"Model Is Blocked"}
    assert hf(good, denied_org_models=["google/bert"]) == {"Model Is Blocked"}
    assert hf(good, deny_orgs=["Google"]) == {"Organization Is Blocked"}
    mine = {"license": "mit", "organization": "my-org", "model_id": "my-org/m"}
    assert hf(mine) == {"Organization Verified By Hugging Face"}
    assert hf(mine, approved_org_models=["my-org"]) == set()
    assert hf(mine, approved_org_models=["my-org/m"]) == set()
    assert hf({**mine, "organization_verified": True}) == set()
    # metadata rules never run for other sources
    r = evaluate_scan(details(f()), default_rule_instances("HUGGING_FACE"), source_type="LOCAL")
    assert all(e.rule_name not in {"License Exists"} for e in r.evaluations)


def _custom(
    cond: dict[str, Any], action: str = "FAIL", sources: list[str] | None = None
) -> dict[str, Any]:
    return {
        "uuid": "11111111-1111-1111-1111-111111111111",
        "name": "c",
        "condition": cond,
        "violation_message": "custom failed",
        "rule_action": action,
        "compatible_sources": sources or ["ALL"],
    }


def test_custom_rules() -> None:
    load = rule_by_name("Load Time Code Execution Check").uuid
    cond = {
        "operator": "or",
        "conditions": [
            {"type": "label", "key": "env", "operator": "equals", "value": "prod"},
            {"type": "rule_result", "rule_uuid": load, "operator": "equals", "value": "FAILED"},
        ],
    }

    def run(
        labels: dict[str, str],
        files: list[dict[str, Any]],
        state: str = "BLOCKING",
        action: str = "FAIL",
        **kw: Any,
    ) -> str:
        insts = with_states(
            "LOCAL",
            **{
                "Load Time Code Execution Check": "ALLOWING",
                "Stored In Approved File Format": "DISABLED",
            },
        )
        c = CustomRuleInstance(
            _custom(kw.get("cond", cond), action, kw.get("sources")), state, "ri"
        )
        return evaluate_scan(
            details(*files), insts, source_type="LOCAL", labels=labels, custom_rules=[c]
        ).outcome

    assert run({"env": "prod"}, [f()]) == "BLOCKED"
    assert run({"env": "dev"}, [f()]) == "ALLOWED"
    assert run({"env": "dev"}, [f("p", ["pickle"], "PAIT-PKL-100")]) == "BLOCKED"
    assert run({"env": "prod"}, [f()], state="ALLOWING") == "ALLOWED"
    assert run({"env": "prod"}, [f()], state="DISABLED") == "ALLOWED"
    assert run({"env": "prod"}, [f()], action="PASS") == "ALLOWED"
    assert run({"env": "dev"}, [f()], action="PASS") == "BLOCKED"
    assert run({"env": "prod"}, [f()], sources=["S3"]) == "ALLOWED"
    label = lambda op, v=None: {"type": "label", "key": "k", "operator": op, "value": v}  # noqa: E731
    assert run({"k": "1"}, [f()], cond=label("exists")) == "BLOCKED"
    assert run({}, [f()], cond=label("not_exists")) == "BLOCKED"
    assert run({"k": "2"}, [f()], cond=label("not_equals", "1")) == "BLOCKED"
    assert (
        run(
            {"k": "1"},
            [f()],
            cond={"operator": "and", "conditions": [label("exists"), label("equals", "2")]},
        )
        == "ALLOWED"
    )


def test_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "rules": {
                    "load time code execution check": "ALLOWING",
                    "Stored In Approved Location": {
                        "state": "BLOCKING",
                        "field_values": {"approved_locations": ["/models/"]},
                    },
                },
                "approved_formats": ["pickle"],
                "custom_rules": [
                    {
                        "name": "reviewed",
                        "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
                    }
                ],
            }
        )
    )
    p = load_policy(path)
    insts = p.rule_instances("LOCAL")
    by = {ri.rule.name: ri for ri in insts}
    assert by["Load Time Code Execution Check"].state == "ALLOWING"
    assert by["Stored In Approved File Format"].value("approved_formats") == ["pickle"]
    d = details(f("a.pkl", ["pickle"], "PAIT-PKL-100"))
    r = evaluate_scan(
        d,
        insts,
        source_type="LOCAL",
        model_uri="/models/a",
        labels={"reviewed": "y"},
        custom_rules=p.custom_rule_instances(),
    )
    assert r.outcome == "ALLOWED"
    r = evaluate_scan(
        d,
        insts,
        source_type="LOCAL",
        model_uri="/elsewhere/a",
        labels=[{"key": "reviewed", "value": "y"}],
        custom_rules=p.custom_rule_instances(),
    )
    assert r.outcome == "BLOCKED"
    for bad in (
        {"rules": {"x": "BLOCKING"}},
        {"rules": {"License Exists": "MAYBE"}},
        {"nope": 1},
        {"approved_formats": "pickle"},
        {"rules": {"License Exists": {"field_values": {"approved_formats": []}}}},
        {"custom_rules": [{"name": "x"}]},
    ):
        with pytest.raises(PolicyFileError):
            load_policy(bad)
    path.write_text("{")
    with pytest.raises(PolicyFileError):
        load_policy(path)


def test_wire_rule_instances() -> None:
    wire = [
        {
            "uuid": "u1",
            "security_rule_uuid": rule_by_name("Load Time Code Execution Check").uuid,
            "state": "BLOCKING",
            "field_values": {},
        }
    ]
    r = evaluate_scan(details(f("a", [], "PAIT-PKL-100")), wire, source_type="LOCAL")
    assert r.outcome == "BLOCKED"
    assert r.evaluations[0].rule_instance_uuid == "u1"
    assert r.to_dict()["violations"][0]["rule_instance_uuid"] == "u1"
