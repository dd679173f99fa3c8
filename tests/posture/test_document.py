"""The policy document: parsing, the offline policy of a group, canonical dumps, layering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelsec.policy import evaluate_scan, load_policy
from modelsec.policy.document import dump_document, load_document, parse_document
from modelsec.policy.policyfile import PolicyFileError

FORMATS = "Stored In Approved File Format"
LOAD = "Load Time Code Execution Check"

DOC = {
    "version": 1,
    "rules": {LOAD: "ALLOWING"},
    "approved_formats": ["pickle"],
    "security_groups": {
        "strict": {
            "source_type": "LOCAL",
            "rules": {
                LOAD: "BLOCKING",
                FORMATS: {"field_values": {"approved_formats": ["safetensors"]}},
            },
        },
        "lenient": {"source_type": "ALL"},
    },
    "custom_rules": [
        {
            "name": "chained",
            "condition": {
                "operator": "and",
                "conditions": [
                    {"type": "rule_result", "rule": "reviewed", "value": "PASSED"},
                    {"type": "rule_result", "rule": LOAD.lower(), "value": "FAILED"},
                ],
            },
            "groups": {"strict": "ALLOWING"},
        },
        {
            "name": "reviewed",
            "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
            "groups": {"strict": "BLOCKING", "lenient": "DISABLED"},
        },
        {
            "name": "ungrouped",
            "condition": {"type": "label", "key": "team", "operator": "not_exists"},
        },
    ],
}


def _details(*files: tuple[str, list[str], str | None]) -> dict[str, object]:
    return {
        "scanner_version": "t",
        "time_started": "2026-01-01T00:00:00Z",
        "files": [
            {
                "file_path": p,
                "modelscan_status": "SCANNED",
                "blob_id": p,
                "formats": fmts,
                "issues_detected": [
                    {"threat": threat, "description": "x", "module": "os", "operator": "system"}
                ]
                if threat
                else [],
            }
            for p, fmts, threat in files
        ],
        "total_files_scanned": len(files),
        "total_files_skipped": 0,
        "model_formats": sorted({f for _, fm, _ in files for f in fm}),
        "model_size_bytes": 1,
        "scan_duration_ms": 1,
    }


def test_group_policy_layers_and_assignments() -> None:
    doc = parse_document(DOC)
    strict = {ri.rule.name: ri for ri in doc.policy("strict").rule_instances("LOCAL")}
    assert strict[LOAD].state == "BLOCKING"  # the group's own value wins over the base
    assert strict[FORMATS].value("approved_formats") == ["safetensors"]
    lenient = {ri.rule.name: ri for ri in doc.policy("lenient").rule_instances("LOCAL")}
    assert lenient[LOAD].state == "ALLOWING"  # the base layer
    assert lenient[FORMATS].value("approved_formats") == ["pickle"]
    # custom rules: ordered so a rule_result reference is evaluated first; states per group
    customs = doc.policy("strict").custom_rule_instances()
    assert [(c.rule["name"], c.state) for c in customs] == [
        ("reviewed", "BLOCKING"),
        ("chained", "ALLOWING"),
    ]
    assert [(c.rule["name"], c.state) for c in doc.policy("lenient").custom_rule_instances()] == [
        ("reviewed", "DISABLED")
    ]
    # without a group: the base layer and only the rules no group owns
    assert [c.rule["name"] for c in doc.policy(None).custom_rule_instances()] == ["ungrouped"]

    d = _details(("a.pkl", ["pickle"], "PAIT-PKL-100"))
    pol = doc.policy("strict")
    r = evaluate_scan(
        d,
        pol.rule_instances("LOCAL"),
        source_type="LOCAL",
        labels={"reviewed": "y"},
        custom_rules=pol.custom_rule_instances(),
    )
    failed = {e.rule_name for e in r.evaluations if e.result == "FAILED"}
    assert failed == {LOAD, FORMATS, "chained"}
    pol = load_policy(DOC, group="lenient")
    r = evaluate_scan(
        d,
        pol.rule_instances("LOCAL"),
        source_type="LOCAL",
        custom_rules=pol.custom_rule_instances(),
    )
    assert r.outcome == "ALLOWED"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"version": 2}, "unsupported version 2"),
        ({"security_groups": []}, "'security_groups' must map group names"),
        ({"security_groups": {"g": {"source_type": "MARS"}}}, "security_groups.g.source_type"),
        (
            {"security_groups": {"g": {"source_type": "LOCAL", "colour": 1}}},
            "security_groups.g: unknown keys colour",
        ),
        (
            {
                "security_groups": {
                    "g": {"source_type": "LOCAL", "rules": {"Model Is Blocked": "BLOCKING"}}
                }
            },
            "does not apply to LOCAL groups",
        ),
        (
            {
                "security_groups": {},
                "custom_rules": [
                    {
                        "name": "x",
                        "condition": {"type": "label", "key": "k", "operator": "exists"},
                        "groups": {"g": "BLOCKING"},
                    }
                ],
            },
            "'g' is not a security group of the file",
        ),
        (
            {
                "custom_rules": [
                    {"name": "x", "condition": {"type": "label", "key": "k", "operator": "equals"}}
                ]
            },
            "custom_rules[0].condition.value must be a non-empty string",
        ),
        (
            {
                "custom_rules": [
                    {"name": "x", "condition": {"type": "rule_result", "value": "FAILED"}}
                ]
            },
            "give 'rule' (a rule name) or 'rule_uuid'",
        ),
        (
            {
                "custom_rules": [
                    {
                        "name": "x",
                        "condition": {
                            "operator": "and",
                            "conditions": [{"type": "label", "key": "k", "operator": "exists"}],
                        },
                    }
                ]
            },
            "at least two conditions",
        ),
        (
            {
                "custom_rules": [
                    {"name": "x", "condition": {"type": "label", "key": "k", "operator": "exists"}},
                    {"name": "x", "condition": {"type": "label", "key": "k", "operator": "exists"}},
                ]
            },
            "a second custom rule named 'x'",
        ),
        ({"scope": {"groups": ["x"]}}, "scope has only"),
    ],
)
def test_errors_name_the_place(bad: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyFileError) as exc:
        parse_document(bad)
    assert message in str(exc.value)


def test_files_round_trip_in_both_formats(tmp_path: Path) -> None:
    doc = parse_document(DOC)
    for fmt in ("json", "yaml"):
        path = tmp_path / f"p.{fmt}"
        path.write_text(dump_document(doc, fmt))
        again = load_document(path)
        assert again.to_dict() == doc.to_dict()
        assert dump_document(again, fmt) == path.read_text()
    # canonical order: groups by name, custom rules by name, rules in catalog order
    data = doc.to_dict()
    assert list(data["security_groups"]) == ["lenient", "strict"]
    assert [c["name"] for c in data["custom_rules"]] == ["chained", "reviewed", "ungrouped"]
    assert list(data["security_groups"]["strict"]["rules"]) == [LOAD, FORMATS]
    # rule names in conditions are canonical
    assert data["custom_rules"][0]["condition"]["conditions"][1]["rule"] == LOAD
    bad = tmp_path / "bad.yaml"
    bad.write_text("security_groups: [\n")
    with pytest.raises(PolicyFileError, match="invalid YAML"):
        load_document(bad)


def test_yaml_without_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(PolicyFileError, match=r"pip install 'modelsec\[yaml\]'"):
        load_document(path)
    # JSON needs nothing
    (tmp_path / "p.json").write_text('{"version": 1}')
    assert load_document(tmp_path / "p.json").groups == []


def test_layering_policy_never_loads_the_sdk() -> None:
    code = (
        "import sys, modelsec.policy, modelsec.policy.document, modelsec.emulator; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith('modelsec.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    assert "modelsec.policy.document" in loaded
    assert not {m for m in loaded if m.startswith("modelsec.posture")}
