"""Every operation: plane, method, path, query (repeated keys), body, and parsed result.

Each response carries an unknown field (and where possible an unknown enum value) that must
survive parsing and come back from ``to_dict()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.types import (
    EvalOutcome,
    LabelCondition,
    RuleState,
    ScanDetails,
    SecurityGroupState,
)
from tests.core import samples as s
from tests.core.conftest import DATA, MGMT, FakeAPI

Op = Callable[[AsyncModelSecurityClient], Awaitable[Any]]

DETAILS = ScanDetails(
    scanner_version="modelsec/0.1.0",
    time_started=dt.datetime(2026, 5, 4, tzinfo=dt.timezone.utc),
    files=[],
    total_files_scanned=0,
    total_files_skipped=0,
    model_formats=["safetensors"],
    model_size_bytes=10,
    scan_duration_ms=3,
)

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)

CASES: list[tuple[str, Op, str, str, list[tuple[str, str]], Any, Any, int]] = [
    (
        "scans.create",
        lambda c: c.scans.create(
            model_uri="/models/bert",
            security_group_uuid=s.U2,
            labels={"team": "ml"},
            scan_details=DETAILS,
            model_name="bert",
        ),
        "POST",
        f"{DATA}/v1/scans",
        [],
        {
            "model_uri": "/models/bert",
            "security_group_uuid": s.U2,
            "scan_origin": "MODEL_SECURITY_SDK",
            "model_name": "bert",
            "labels": [{"key": "team", "value": "ml"}],
            "scan_details": {
                "scanner_version": "modelsec/0.1.0",
                "time_started": "2026-05-04T00:00:00Z",
                "files": [],
                "total_files_scanned": 0,
                "total_files_skipped": 0,
                "model_formats": ["safetensors"],
                "model_size_bytes": 10,
                "scan_duration_ms": 3,
            },
        },
        s.scan(outcome="PENDING"),
        201,
    ),
    (
        "scans.list",
        lambda c: c.scans.list(
            limit=10,
            source_types=["S3", "GCS"],
            eval_outcomes=[EvalOutcome.BLOCKED],
            sort_order="asc",
            start_time=T0,
            labels_query="team:ml AND env:*",
        ).first_page(),
        "GET",
        f"{DATA}/v1/scans",
        [
            ("sort_order", "asc"),
            ("source_types", "S3"),
            ("source_types", "GCS"),
            ("eval_outcomes", "BLOCKED"),
            ("start_time", "2026-01-02T03:04:05Z"),
            ("labels_query", "team:ml AND env:*"),
            ("skip", "0"),
            ("limit", "10"),
        ],
        None,
        {**s.page("scans", [s.scan(outcome="QUARANTINED")], 1), "count_capped": True},
        200,
    ),
    (
        "scans.get",
        lambda c: c.scans.get(s.U1),
        "GET",
        f"{DATA}/v1/scans/{s.U1}",
        [],
        None,
        s.scan(),
        200,
    ),
    (
        "scans.get_evaluations",
        lambda c: c.scans.get_evaluations(
            s.U1, result="FAILED", sort_field="updated_at"
        ).first_page(),
        "GET",
        f"{DATA}/v1/scans/{s.U1}/evaluations",
        [("sort_field", "updated_at"), ("result", "FAILED"), ("skip", "0"), ("limit", "100")],
        None,
        s.page("evaluations", [s.evaluation()]),
        200,
    ),
    (
        "scans.get_evaluation",
        lambda c: c.scans.get_evaluation(s.U1),
        "GET",
        f"{DATA}/v1/evaluations/{s.U1}",
        [],
        None,
        s.evaluation(),
        200,
    ),
    (
        "scans.get_violations",
        lambda c: c.scans.get_violations(s.U1, limit=20).first_page(),
        "GET",
        f"{DATA}/v1/scans/{s.U1}/rule-violations",
        [("skip", "0"), ("limit", "20")],
        None,
        s.page("violations", [s.violation()]),
        200,
    ),
    (
        "scans.get_violation",
        lambda c: c.scans.get_violation(s.U1),
        "GET",
        f"{DATA}/v1/violations/{s.U1}",
        [],
        None,
        s.violation(),
        200,
    ),
    (
        "scans.get_files",
        lambda c: c.scans.get_files(s.U1, query_path="/sub", sort_dir="desc").first_page(),
        "GET",
        f"{DATA}/v1/scans/{s.U1}/files",
        [("sort_dir", "desc"), ("query_path", "/sub"), ("skip", "0"), ("limit", "100")],
        None,
        s.page("files", [s.file()]),
        200,
    ),
    (
        "scans.add_labels",
        lambda c: c.scans.add_labels(s.U1, {"team": "ml", "env": "prod"}),
        "POST",
        f"{DATA}/v1/scans/{s.U1}/labels",
        [],
        {"labels": [{"key": "team", "value": "ml"}, {"key": "env", "value": "prod"}]},
        {"x": 1},
        200,
    ),
    (
        "scans.set_labels",
        lambda c: c.scans.set_labels(s.U1, [{"key": "team", "value": "ml"}]),
        "PUT",
        f"{DATA}/v1/scans/{s.U1}/labels",
        [],
        {"labels": [{"key": "team", "value": "ml"}]},
        {},
        200,
    ),
    (
        "scans.delete_labels",
        lambda c: c.scans.delete_labels(s.U1, ["team", "env"]),
        "DELETE",
        f"{DATA}/v1/scans/{s.U1}/labels",
        [("keys", "team"), ("keys", "env")],
        None,
        None,
        204,
    ),
    (
        "scans.get_label_keys",
        lambda c: c.scans.get_label_keys(search="te").first_page(),
        "GET",
        f"{DATA}/v1/scans/label-keys",
        [("search", "te"), ("skip", "0"), ("limit", "100")],
        None,
        s.page("keys", ["team"]),
        200,
    ),
    (
        "scans.get_label_values",
        lambda c: c.scans.get_label_values("team").first_page(),
        "GET",
        f"{DATA}/v1/scans/label-keys/team/values",
        [("skip", "0"), ("limit", "100")],
        None,
        s.page("values", ["ml"]),
        200,
    ),
    (
        "models.list",
        lambda c: c.models.list(
            latest_version_formats=["pickle", "onnx"], latest_version_source_types=["LOCAL"]
        ).first_page(),
        "GET",
        f"{DATA}/v1/models",
        [
            ("latest_version_formats", "pickle"),
            ("latest_version_formats", "onnx"),
            ("latest_version_source_types", "LOCAL"),
            ("skip", "0"),
            ("limit", "100"),
        ],
        None,
        s.page("models", [s.model()]),
        200,
    ),
    (
        "models.get",
        lambda c: c.models.get(s.U1),
        "GET",
        f"{DATA}/v1/models/{s.U1}",
        [],
        None,
        s.model(),
        200,
    ),
    (
        "models.list_versions",
        lambda c: c.models.list_versions(s.U1, sort_order="asc").first_page(),
        "GET",
        f"{DATA}/v1/models/{s.U1}/model-versions",
        [("sort_order", "asc"), ("skip", "0"), ("limit", "100")],
        None,
        s.page("model_versions", [s.model_version()]),
        200,
    ),
    (
        "models.get_version",
        lambda c: c.models.get_version(s.U1),
        "GET",
        f"{DATA}/v1/model-versions/{s.U1}",
        [],
        None,
        s.model_version(),
        200,
    ),
    (
        "models.list_version_files",
        lambda c: c.models.list_version_files(s.U1).first_page(),
        "GET",
        f"{DATA}/v1/model-versions/{s.U1}/files",
        [("skip", "0"), ("limit", "100")],
        None,
        s.page("files", [s.file()]),
        200,
    ),
    (
        "security_groups.create",
        lambda c: c.security_groups.create(
            name="hf-strict",
            source_type="HUGGING_FACE",
            description="Block unsafe models",
            rule_configurations={
                s.U3: {"state": "BLOCKING", "field_values": {"approved_formats": ["onnx"]}}
            },
        ),
        "POST",
        f"{MGMT}/v1/security-groups",
        [],
        {
            "name": "hf-strict",
            "source_type": "HUGGING_FACE",
            "description": "Block unsafe models",
            "rule_configurations": {
                s.U3: {"state": "BLOCKING", "field_values": {"approved_formats": ["onnx"]}}
            },
        },
        s.group(state="PENDING"),
        201,
    ),
    (
        "security_groups.list",
        lambda c: c.security_groups.list(
            source_types=["HUGGING_FACE", "S3"],
            search_query="prod",
            enabled_rules=[s.U2, s.U3],
            sort_field="created_at",
            sort_dir="desc",
        ).first_page(),
        "GET",
        f"{MGMT}/v1/security-groups",
        [
            ("sort_field", "created_at"),
            ("sort_dir", "desc"),
            ("source_types", "HUGGING_FACE"),
            ("source_types", "S3"),
            ("search_query", "prod"),
            ("enabled_rules", s.U2),
            ("enabled_rules", s.U3),
            ("skip", "0"),
            ("limit", "100"),
        ],
        None,
        s.page("security_groups", [s.group(state="ARCHIVED")]),
        200,
    ),
    (
        "security_groups.get",
        lambda c: c.security_groups.get(s.U1),
        "GET",
        f"{MGMT}/v1/security-groups/{s.U1}",
        [],
        None,
        s.group(),
        200,
    ),
    (
        "security_groups.update",
        lambda c: c.security_groups.update(s.U1, name="v2", description="d2"),
        "PUT",
        f"{MGMT}/v1/security-groups/{s.U1}",
        [],
        {"name": "v2", "description": "d2"},
        s.group(),
        200,
    ),
    (
        "security_groups.delete",
        lambda c: c.security_groups.delete(s.U1),
        "DELETE",
        f"{MGMT}/v1/security-groups/{s.U1}",
        [],
        None,
        None,
        204,
    ),
    (
        "security_groups.list_rule_instances",
        lambda c: c.security_groups.list_rule_instances(
            s.U1, state=RuleState.BLOCKING, security_rule_uuid=s.U3
        ).first_page(),
        "GET",
        f"{MGMT}/v1/security-groups/{s.U1}/rule-instances",
        [("security_rule_uuid", s.U3), ("state", "BLOCKING"), ("skip", "0"), ("limit", "100")],
        None,
        s.page("rule_instances", [s.rule_instance()]),
        200,
    ),
    (
        "security_groups.get_rule_instance",
        lambda c: c.security_groups.get_rule_instance(s.U1, s.U2),
        "GET",
        f"{MGMT}/v1/security-groups/{s.U1}/rule-instances/{s.U2}",
        [],
        None,
        s.rule_instance(),
        200,
    ),
    (
        "security_groups.update_rule_instance",
        lambda c: c.security_groups.update_rule_instance(
            s.U1, s.U2, state="BLOCKING", field_values={"approved_formats": ["safetensors"]}
        ),
        "PUT",
        f"{MGMT}/v1/security-groups/{s.U1}/rule-instances/{s.U2}",
        [],
        {
            "security_group_uuid": s.U1,
            "state": "BLOCKING",
            "field_values": {"approved_formats": ["safetensors"]},
        },
        s.rule_instance(),
        200,
    ),
    (
        "security_groups.list_rule_instance_versions",
        lambda c: c.security_groups.list_rule_instance_versions(s.U1, limit=5),
        "GET",
        f"{MGMT}/v1/security-groups/{s.U1}/rule-instances/versions",
        [("limit", "5")],
        None,
        {
            "versions": [{"generation": 3, "timestamp": "t", "x": 1}],
            "pagination": {"next_token": None},
        },
        200,
    ),
    (
        "security_rules.list",
        lambda c: c.security_rules.list(
            source_type="HUGGING_FACE", search_query="pickle"
        ).first_page(),
        "GET",
        f"{MGMT}/v1/security-rules",
        [
            ("source_type", "HUGGING_FACE"),
            ("search_query", "pickle"),
            ("skip", "0"),
            ("limit", "100"),
        ],
        None,
        s.page("rules", [s.rule()]),
        200,
    ),
    (
        "security_rules.get",
        lambda c: c.security_rules.get(s.U1),
        "GET",
        f"{MGMT}/v1/security-rules/{s.U1}",
        [],
        None,
        s.rule(),
        200,
    ),
    (
        "security_rules.list_versions",
        lambda c: c.security_rules.list_versions(next_token="abc"),
        "GET",
        f"{MGMT}/v1/security-rules/versions",
        [("next_token", "abc")],
        None,
        {"versions": [], "pagination": {"next_token": None}},
        200,
    ),
    (
        "custom_rules.create",
        lambda c: c.custom_rules.create(
            name="needs owner",
            compatible_sources=["LOCAL"],
            condition=LabelCondition(key="owner", operator="exists"),
            violation_message="owner label required",
            rule_action="FAIL",
        ),
        "POST",
        f"{MGMT}/v1/custom-rules",
        [],
        {
            "name": "needs owner",
            "compatible_sources": ["LOCAL"],
            "condition": {"key": "owner", "operator": "exists", "type": "label"},
            "violation_message": "owner label required",
            "rule_action": "FAIL",
        },
        s.custom_rule(),
        201,
    ),
    (
        "custom_rules.list",
        lambda c: c.custom_rules.list(limit=5).first_page(),
        "GET",
        f"{MGMT}/v1/custom-rules",
        [("skip", "0"), ("limit", "5")],
        None,
        s.page("custom_rules", [s.custom_rule()]),
        200,
    ),
    (
        "custom_rules.get",
        lambda c: c.custom_rules.get(s.U1),
        "GET",
        f"{MGMT}/v1/custom-rules/{s.U1}",
        [],
        None,
        s.custom_rule(),
        200,
    ),
    (
        "custom_rules.update",
        lambda c: c.custom_rules.update(s.U1, name="n2", rule_action="PASS"),
        "PUT",
        f"{MGMT}/v1/custom-rules/{s.U1}",
        [],
        {"name": "n2", "rule_action": "PASS"},
        s.custom_rule(),
        200,
    ),
    (
        "custom_rules.archive",
        lambda c: c.custom_rules.archive(s.U1),
        "POST",
        f"{MGMT}/v1/custom-rules/{s.U1}/archive",
        [],
        None,
        s.custom_rule(),
        200,
    ),
    (
        "custom_rules.unarchive",
        lambda c: c.custom_rules.unarchive(s.U1),
        "POST",
        f"{MGMT}/v1/custom-rules/{s.U1}/unarchive",
        [],
        None,
        s.custom_rule(),
        200,
    ),
    (
        "custom_rules.list_security_groups",
        lambda c: c.custom_rules.list_security_groups(s.U1).first_page(),
        "GET",
        f"{MGMT}/v1/custom-rules/{s.U1}/security-groups",
        [("skip", "0"), ("limit", "100")],
        None,
        s.page(
            "security_groups",
            [{"uuid": s.U2, "name": "g", "source_type": "LOCAL", "rule_state": "BLOCKING", "x": 1}],
        ),
        200,
    ),
    (
        "custom_rules.assign_security_groups",
        lambda c: c.custom_rules.assign_security_groups(
            s.U1, {s.U2: "BLOCKING", s.U3: RuleState.ALLOWING}
        ),
        "POST",
        f"{MGMT}/v1/custom-rules/{s.U1}/security-groups",
        [],
        {
            "assignments": [
                {"security_group_uuid": s.U2, "state": "BLOCKING"},
                {"security_group_uuid": s.U3, "state": "ALLOWING"},
            ]
        },
        {"results": [{"security_group_uuid": s.U2, "status": "assigned", "x": 1}]},
        200,
    ),
    (
        "custom_rules.remove_assignment",
        lambda c: c.custom_rules.remove_assignment(s.U1, s.U2),
        "DELETE",
        f"{MGMT}/v1/custom-rules/{s.U1}/security-groups/{s.U2}",
        [],
        None,
        None,
        204,
    ),
    (
        "custom_rules.list_versions",
        lambda c: c.custom_rules.list_versions(),
        "GET",
        f"{MGMT}/v1/custom-rules/versions",
        [],
        None,
        {"versions": [{"generation": 1, "timestamp": "t"}], "pagination": {"next_token": None}},
        200,
    ),
    (
        "get_pypi_auth",
        lambda c: c.get_pypi_auth(),
        "GET",
        f"{MGMT}/v1/pypi/authenticate",
        [],
        None,
        {
            "url": "https://oauth2accesstoken:ya29.SECRET@pypi.test/simple/",
            "expires_at": s.TS,
            "x": 1,
        },
        200,
    ),
]


@pytest.mark.parametrize(
    ("name", "op", "method", "url", "params", "body", "response", "status"),
    CASES,
    ids=[c[0] for c in CASES],
)
async def test_operation_request_and_result(
    client: AsyncModelSecurityClient,
    fake_api: FakeAPI,
    name: str,
    op: Op,
    method: str,
    url: str,
    params: list[tuple[str, str]],
    body: Any,
    response: Any,
    status: int,
) -> None:
    fake_api.route(method, url, payload=response, status=status)
    result = await op(client)

    assert len(fake_api.calls) == 1, name
    call = fake_api.calls[0]
    assert call.method == method
    assert call.url == url
    assert call.params == params
    assert call.json == body
    assert call.headers["Authorization"] == "Bearer tok-1"
    assert call.headers["User-Agent"].startswith("modelsec-python/")

    if response is None:
        assert result is None
        return
    # The parsed result gives back the same wire JSON, unknown fields and enum values included.
    assert result.to_dict() == _with_defaults(result.to_dict(), response)
    if isinstance(response, dict) and "x" in response:
        assert result.extra["x"] == 1


def _with_defaults(parsed: dict[str, Any], raw: Any) -> Any:
    """``raw`` overlaid on ``parsed``: every key the server sent must come back unchanged."""
    assert isinstance(raw, dict)
    for key, value in raw.items():
        assert key in parsed, key
        if isinstance(value, dict) and isinstance(parsed[key], dict):
            _with_defaults(parsed[key], value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for p, r in zip(parsed[key], value, strict=True):
                _with_defaults(p, r)
        else:
            assert parsed[key] == value, key
    return parsed


async def test_unknown_enum_values_survive(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", f"{DATA}/v1/scans/{s.U1}", payload=s.scan(outcome="QUARANTINED"))
    scan = await client.scans.get(s.U1)
    assert scan.eval_outcome == "QUARANTINED"
    assert not isinstance(scan.eval_outcome, EvalOutcome)
    assert not scan.is_settled  # unknown outcomes are not treated as settled
    assert scan.extra["future_field"] == {"nested": [1, 2]}
    assert scan.to_dict()["future_field"] == {"nested": [1, 2]}
    assert scan.to_dict()["eval_outcome"] == "QUARANTINED"


async def test_known_enum_values_become_members(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", f"{MGMT}/v1/security-groups/{s.U1}", payload=s.group(state="ACTIVE"))
    group = await client.security_groups.get(s.U1)
    assert group.state is SecurityGroupState.ACTIVE
    assert group.is_active
    assert group.created_at == dt.datetime(2026, 5, 4, 10, tzinfo=dt.timezone.utc)


async def test_pypi_auth_redacts_its_credential(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route(
        "GET",
        f"{MGMT}/v1/pypi/authenticate",
        payload={
            "url": "https://oauth2accesstoken:ya29.SECRET@pypi.test/simple/",
            "expires_at": s.TS,
        },
    )
    auth = await client.get_pypi_auth()
    assert "ya29.SECRET" in auth.url
    assert "SECRET" not in repr(auth)
    assert "SECRET" not in str(auth)
    assert auth.redacted_url == "https://***@pypi.test/simple/"


async def test_custom_rule_condition_tree_parses(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", f"{MGMT}/v1/custom-rules/{s.U1}", payload=s.custom_rule())
    rule = await client.custom_rules.get(s.U1)
    assert rule.condition is not None
    assert rule.condition.to_dict(exclude_none=True) == s.custom_rule()["condition"]
