"""Labels, labels_query, pagination/filters/sorts, groups, rule instances, custom rules,
versions, inventory, and the guide's two walkthroughs, over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from modelsec.emulator import Emulator
from modelsec.policy import rule_by_name
from tests.emulator.conftest import Api, bad_file, clean_file, scan_details


async def _scan(api: Api, group: str, labels: dict[str, str] | None = None, **kw: Any) -> str:
    body: dict[str, Any] = {
        "model_uri": kw.pop("model_uri", "/models/m"),
        "security_group_uuid": group,
        "scan_details": kw.pop("details", scan_details()),
        **kw,
    }
    if labels:
        body["labels"] = [{"key": k, "value": v} for k, v in labels.items()]
    r = await api.post("/data/v1/scans", body)
    assert r.status == 201, r.body
    return str(r.body["uuid"])


async def test_label_semantics(api: Api) -> None:
    g = await api.default_group("LOCAL")
    s = await _scan(api, g, {"team": "ml", "env": "dev"})
    await api.post(
        f"/data/v1/scans/{s}/labels",
        {"labels": [{"key": "env", "value": "prod"}, {"key": "x", "value": "1"}]},
    )
    labels = {
        lab["key"]: lab["value"] for lab in (await api.get(f"/data/v1/scans/{s}")).body["labels"]
    }
    assert labels == {"team": "ml", "env": "prod", "x": "1"}
    await api.put(f"/data/v1/scans/{s}/labels", {"labels": [{"key": "only", "value": "me"}]})
    assert (await api.get(f"/data/v1/scans/{s}")).body["labels"] == [{"key": "only", "value": "me"}]
    r = await api.delete(
        f"/data/v1/scans/{s}/labels", params=[("keys", "only"), ("keys", "absent")]
    )
    assert r.status == 204
    assert r.body is None
    assert (await api.get(f"/data/v1/scans/{s}")).body["labels"] == []
    many = {"labels": [{"key": f"k{i}", "value": "v"} for i in range(50)]}
    assert (await api.put(f"/data/v1/scans/{s}/labels", many)).status == 200
    r = await api.post(f"/data/v1/scans/{s}/labels", {"labels": [{"key": "k51", "value": "v"}]})
    assert r.status == 422
    keys = await api.get("/data/v1/scans/label-keys", params={"limit": 100, "search": "k4"})
    assert keys.body["keys"] == ["k4", *(f"k4{i}" for i in range(10))]


async def test_labels_query_grammar(api: Api) -> None:
    g = await api.default_group("LOCAL")
    a = await _scan(api, g, {"team": "ml", "env": "prod"})
    b = await _scan(api, g, {"team": "ml", "env": "dev"})
    c = await _scan(api, g, {"team": "web"})

    async def q(query: str) -> set[str]:
        r = await api.get("/data/v1/scans", params={"labels_query": query, "limit": 100})
        assert r.status == 200, r.body
        return {s["uuid"] for s in r.body["scans"]}

    assert await q("team:ml") == {a, b}
    assert await q("env:*") == {a, b}
    assert await q("team:ml AND env:prod") == {a}
    assert await q("env:prod OR team:web") == {a, c}
    assert await q("team:web OR (team:ml AND env:dev)") == {b, c}
    assert await q("(team:ml OR team:web) AND env:*") == {a, b}
    assert await q("team:ml and env:dev") == {b}
    for bad in ("team", "team:ml AND", "((team:ml))", "team:ml OR (env:x", "a:b c:d"):
        r = await api.get("/data/v1/scans", params={"labels_query": bad})
        assert r.status == 422, bad
        assert r.body["detail"][0]["loc"] == ["query", "labels_query"]
    # label values discovery
    r = await api.get("/data/v1/scans/label-keys/team/values")
    assert r.body["values"] == ["ml", "web"]


async def test_pagination_filters_sorts(api: Api, emu: Emulator) -> None:
    local = await api.default_group("LOCAL")
    s3 = await api.default_group("S3")
    ids = [await _scan(api, local) for _ in range(5)]
    bad = await _scan(api, s3, model_uri="s3://b/m", details=scan_details([bad_file()]))
    for s in [*ids, bad]:
        await api.wait_scan(s)
    r = await api.get("/data/v1/scans", params={"limit": 2, "skip": 0})
    assert r.body["pagination"]["total_items"] == 6
    assert len(r.body["scans"]) == 2
    assert r.body["scans"][0]["uuid"] == bad  # newest first by default
    seen: list[str] = []
    skip = 0
    while True:
        page = (
            await api.get("/data/v1/scans", params={"limit": 4, "skip": skip, "sort_order": "asc"})
        ).body["scans"]
        seen += [s["uuid"] for s in page]
        if len(page) < 4:
            break
        skip += 4
    assert seen == [*ids, bad]
    r = await api.get(
        "/data/v1/scans",
        params=[("eval_outcomes", "BLOCKED"), ("source_types", "S3"), ("source_types", "GCS")],
    )
    assert [s["uuid"] for s in r.body["scans"]] == [bad]
    r = await api.get("/data/v1/scans", params={"security_group_uuid": local, "limit": 100})
    assert len(r.body["scans"]) == 5
    r = await api.get("/data/v1/scans", params={"search_query": "s3://b"})
    assert [s["uuid"] for s in r.body["scans"]] == [bad]
    r = await api.get("/data/v1/scans", params={"start_time": "2999-01-01T00:00:00Z"})
    assert r.body["scans"] == []
    r = await api.get("/data/v1/scans", params={"end_time": "2999-01-01T00:00:00Z", "limit": 100})
    assert len(r.body["scans"]) == 6
    assert (await api.get("/data/v1/scans", params={"start_time": "yesterday"})).status == 422
    # evaluations: filter and sort
    r = await api.get(
        f"/data/v1/scans/{bad}/evaluations", params={"result": "FAILED", "limit": 100}
    )
    names = {e["rule_name"] for e in r.body["evaluations"]}
    assert names == {"Load Time Code Execution Check", "Stored In Approved File Format"}
    ev = r.body["evaluations"][0]
    r = await api.get(
        f"/data/v1/scans/{bad}/evaluations", params={"rule_instance_uuid": ev["rule_instance_uuid"]}
    )
    assert [e["uuid"] for e in r.body["evaluations"]] == [ev["uuid"]]
    # groups: sorts and filters
    r = await api.get(
        "/mgmt/v1/security-groups", params={"sort_dir": "asc", "sort_field": "created_at"}
    )
    assert r.body["security_groups"][0]["name"] == "Default LOCAL"
    r = await api.get(
        "/mgmt/v1/security-groups", params=[("source_types", "S3"), ("source_types", "GCS")]
    )
    assert {g["name"] for g in r.body["security_groups"]} == {"Default S3", "Default GCS"}
    loc_rule = rule_by_name("Stored In Approved Location").uuid
    r = await api.get("/mgmt/v1/security-groups", params={"enabled_rules": loc_rule})
    assert r.body["security_groups"] == []  # DISABLED by default
    r = await api.get(
        "/mgmt/v1/security-rules", params={"source_type": "HUGGING_FACE", "limit": 100}
    )
    assert len(r.body["rules"]) == 11
    r = await api.get("/mgmt/v1/security-rules", params={"search_query": "license"})
    assert {x["name"] for x in r.body["rules"]} == {"License Exists", "License Is Valid For Use"}
    # models inventory
    r = await api.get("/data/v1/models", params={"latest_version_outcomes": "BLOCKED"})
    assert [m["name"] for m in r.body["models"]] == ["m"]
    r = await api.get("/data/v1/models", params={"latest_version_formats": "pickle"})
    assert len(r.body["models"]) == 1
    assert emu.scan_count() == 6


async def test_files_tree(api: Api) -> None:
    g = await api.default_group("LOCAL")
    details = scan_details(
        [
            clean_file("config.json", "json"),
            bad_file("weights/sub/pytorch_model.bin"),
            clean_file("weights/a.safetensors"),
        ]
    )
    s = await _scan(api, g, details=details)
    scan = await api.wait_scan(s)
    top = (await api.get(f"/data/v1/scans/{s}/files")).body["files"]
    assert [(f["path"], f["type"], f["parent_path"]) for f in top] == [
        ("config.json", "FILE", "/"),
        ("weights", "DIRECTORY", "/"),
    ]
    assert top[1]["result"] == "FAILED"
    sub = (
        await api.get(
            f"/data/v1/scans/{s}/files", params={"query_path": "/weights/", "sort_field": "type"}
        )
    ).body["files"]
    assert [(f["path"], f["type"]) for f in sub] == [
        ("weights/sub", "DIRECTORY"),
        ("weights/a.safetensors", "FILE"),
    ]
    leaf = (await api.get(f"/data/v1/scans/{s}/files", params={"query_path": "weights/sub"})).body[
        "files"
    ]
    assert leaf[0]["result"] == "FAILED"
    assert leaf[0]["model_version_uuid"] == scan["model_version_uuid"]
    files = (
        await api.get(
            f"/data/v1/model-versions/{scan['model_version_uuid']}/files", params={"limit": 100}
        )
    ).body
    assert files["pagination"]["total_items"] == 5


async def test_soft_delete_and_activation(api: Api) -> None:
    r = await api.post("/mgmt/v1/security-groups", {"name": "temp", "source_type": "GCS"})
    g = r.body["uuid"]
    assert r.body["state"] == "PENDING"
    await asyncio.sleep(0.25)
    assert (await api.get(f"/mgmt/v1/security-groups/{g}")).body["state"] == "ACTIVE"
    assert (await api.delete(f"/mgmt/v1/security-groups/{g}")).status == 204
    got = await api.get(f"/mgmt/v1/security-groups/{g}")
    assert got.status == 200
    assert got.body["is_tombstone"] is True
    listed = (await api.get("/mgmt/v1/security-groups", params={"limit": 100})).body[
        "security_groups"
    ]
    assert g not in {x["uuid"] for x in listed}
    assert (await api.put(f"/mgmt/v1/security-groups/{g}", {"name": "again"})).status == 404
    assert (
        await api.post("/data/v1/scans", {"model_uri": "gs://b/m", "security_group_uuid": g})
    ).status == 404
    # the name is free again
    assert (
        await api.post("/mgmt/v1/security-groups", {"name": "temp", "source_type": "GCS"})
    ).status == 201


async def test_rule_configurations_and_rule_instance_updates(api: Api) -> None:
    fmt = rule_by_name("Stored In Approved File Format").uuid
    load = rule_by_name("Load Time Code Execution Check").uuid
    r = await api.post(
        "/mgmt/v1/security-groups",
        {
            "name": "tuned",
            "source_type": "LOCAL",
            "rule_configurations": {
                fmt: {
                    "state": "ALLOWING",
                    "field_values": {"approved_formats": ["pickle", "safetensors"]},
                },
                load: {"state": "DISABLED"},
            },
        },
    )
    assert r.status == 201, r.body
    g = r.body["uuid"]
    ris = (
        await api.get(f"/mgmt/v1/security-groups/{g}/rule-instances", params={"limit": 100})
    ).body["rule_instances"]
    by = {ri["rule"]["name"]: ri for ri in ris}
    assert by["Stored In Approved File Format"]["field_values"]["approved_formats"] == [
        "pickle",
        "safetensors",
    ]
    assert by["Load Time Code Execution Check"]["state"] == "DISABLED"
    r = await api.get(f"/mgmt/v1/security-groups/{g}/rule-instances", params={"state": "DISABLED"})
    assert r.body["pagination"]["total_items"] == 2  # + Stored In Approved Location
    s = await _scan(api, g, details=scan_details([bad_file()]))
    assert (await api.wait_scan(s))["eval_outcome"] == "ALLOWED"
    # tighten: Load Time back to BLOCKING
    ri = by["Load Time Code Execution Check"]["uuid"]
    r = await api.put(
        f"/mgmt/v1/security-groups/{g}/rule-instances/{ri}",
        {"security_group_uuid": g, "state": "BLOCKING"},
    )
    assert r.body["state"] == "BLOCKING"
    s = await _scan(api, g, details=scan_details([bad_file()]))
    done = await api.wait_scan(s)
    assert done["eval_outcome"] == "BLOCKED"
    assert done["eval_summary"]["rules_failed"] == 1
    # mismatched group uuid, bad field, bad values
    other = await api.default_group("LOCAL")
    r = await api.put(
        f"/mgmt/v1/security-groups/{g}/rule-instances/{ri}", {"security_group_uuid": other}
    )
    assert r.status == 422
    r = await api.put(
        f"/mgmt/v1/security-groups/{g}/rule-instances/{ri}",
        {"security_group_uuid": g, "field_values": {"approved_formats": ["x"]}},
    )
    assert r.status == 422
    fri = by["Stored In Approved File Format"]["uuid"]
    r = await api.put(
        f"/mgmt/v1/security-groups/{g}/rule-instances/{fri}",
        {"security_group_uuid": g, "field_values": {"approved_formats": "pickle"}},
    )
    assert r.status == 422
    r = await api.post(
        "/mgmt/v1/security-groups",
        {
            "name": "x",
            "source_type": "LOCAL",
            "rule_configurations": {rule_by_name("License Exists").uuid: {"state": "ALLOWING"}},
        },
    )
    assert r.status == 422  # an HF-only rule in a LOCAL group
    versions = (await api.get(f"/mgmt/v1/security-groups/{g}/rule-instances/versions")).body
    assert [v["generation"] for v in versions["versions"]] == [2, 1]


async def test_custom_rules_crud_assign_evaluate_versions(api: Api) -> None:
    g = await api.default_group("LOCAL")
    load = rule_by_name("Load Time Code Execution Check").uuid
    r = await api.post(
        "/mgmt/v1/custom-rules",
        {
            "name": "prod needs review",
            "compatible_sources": ["ALL"],
            "condition": {
                "operator": "and",
                "conditions": [
                    {"type": "label", "key": "env", "operator": "equals", "value": "prod"},
                    {"type": "label", "key": "reviewed", "operator": "not_exists"},
                ],
            },
            "violation_message": "Production models must be reviewed",
            "remediation_message": "Add the label reviewed=yes",
        },
    )
    cr = r.body["uuid"]
    assert r.body["rule_action"] == "FAIL"
    assert r.body["is_archived"] is False
    r = await api.post(
        "/mgmt/v1/custom-rules",
        {
            "name": "must pass load check",
            "compatible_sources": ["LOCAL"],
            "condition": {
                "type": "rule_result",
                "rule_uuid": load,
                "operator": "equals",
                "value": "PASSED",
            },
            "violation_message": "Load-time check did not pass",
            "rule_action": "PASS",
        },
    )
    cr2 = r.body["uuid"]
    r = await api.post(
        "/mgmt/v1/custom-rules",
        {
            "name": "dangling",
            "compatible_sources": ["LOCAL"],
            "violation_message": "x",
            "condition": {
                "type": "rule_result",
                "rule_uuid": "00000000-0000-0000-0000-000000000001",
                "operator": "equals",
                "value": "PASSED",
            },
        },
    )
    assert r.status == 422
    hf = await api.default_group("HUGGING_FACE")
    r = await api.post(
        f"/mgmt/v1/custom-rules/{cr2}/security-groups",
        {
            "assignments": [
                {"security_group_uuid": g, "state": "ALLOWING"},
                {"security_group_uuid": hf, "state": "BLOCKING"},
                {
                    "security_group_uuid": "00000000-0000-0000-0000-000000000001",
                    "state": "BLOCKING",
                },
            ]
        },
    )
    assert [x["status"] for x in r.body["results"]] == ["created", "error", "error"]
    r = await api.post(
        f"/mgmt/v1/custom-rules/{cr}/security-groups",
        {"assignments": [{"security_group_uuid": g, "state": "BLOCKING"}]},
    )
    ri_uuid = r.body["results"][0]["rule_instance_uuid"]
    listed = (await api.get("/mgmt/v1/custom-rules")).body["custom_rules"]
    assert {c["uuid"]: c["enabled_security_group_count"] for c in listed} == {cr: 1, cr2: 1}
    assert (await api.get(f"/mgmt/v1/custom-rules/{cr}/security-groups")).body["security_groups"][
        0
    ]["rule_state"] == "BLOCKING"

    s1 = await _scan(api, g, {"env": "prod"})
    s2 = await _scan(api, g, {"env": "prod", "reviewed": "yes"})
    s3 = await _scan(api, g, {"env": "dev"}, details=scan_details([bad_file()]))
    r1, r2, r3 = [await api.wait_scan(s) for s in (s1, s2, s3)]
    assert (r1["eval_outcome"], r2["eval_outcome"], r3["eval_outcome"]) == (
        "BLOCKED",
        "ALLOWED",
        "BLOCKED",
    )
    v = (await api.get(f"/data/v1/scans/{s1}/rule-violations")).body["violations"]
    assert [(x["rule_name"], x["description"], x["rule_instance_uuid"]) for x in v] == [
        ("prod needs review", "Production models must be reviewed", ri_uuid)
    ]
    assert v[0]["remediation"]["steps"] == ["Add the label reviewed=yes"]
    evs = (
        await api.get(f"/data/v1/scans/{s3}/evaluations", params={"result": "FAILED", "limit": 100})
    ).body["evaluations"]
    assert "must pass load check" in {e["rule_name"] for e in evs}

    # archive: no longer evaluated
    await api.post(f"/mgmt/v1/custom-rules/{cr}/archive")
    s4 = await _scan(api, g, {"env": "prod"})
    assert (await api.wait_scan(s4))["eval_outcome"] == "ALLOWED"
    assert (await api.get("/mgmt/v1/custom-rules", params={"is_archived": "true"})).body[
        "pagination"
    ]["total_items"] == 1
    await api.post(f"/mgmt/v1/custom-rules/{cr}/unarchive")
    r = await api.put(f"/mgmt/v1/custom-rules/{cr}", {"name": "renamed", "description": None})
    assert r.body["name"] == "renamed"
    assert (await api.delete(f"/mgmt/v1/custom-rules/{cr}/security-groups/{g}")).status == 204
    assert (await api.get(f"/mgmt/v1/custom-rules/{cr}/security-groups")).body[
        "security_groups"
    ] == []

    versions = (await api.get("/mgmt/v1/custom-rules/versions", params={"limit": 3})).body
    gens = [v["generation"] for v in versions["versions"]]
    assert gens == sorted(gens, reverse=True)
    assert len(gens) == 3
    nxt = versions["pagination"]["next_token"]
    assert nxt
    rest = (
        await api.get("/mgmt/v1/custom-rules/versions", params={"next_token": nxt, "limit": 100})
    ).body
    assert rest["pagination"]["next_token"] is None
    assert rest["versions"][0]["generation"] == gens[-1] - 1


async def test_missing_model_is_error(api: Api) -> None:
    hf = await api.default_group("HUGGING_FACE")
    r = await api.post(
        "/data/v1/scans", {"model_uri": "hf://nobody/nothing", "security_group_uuid": hf}
    )
    done = await api.wait_scan(r.body["uuid"])
    assert done["eval_outcome"] == "ERROR"
    assert done["error_code"] == "MISSING_ARTIFACTS"
    assert (await api.get(f"/data/v1/scans/{r.body['uuid']}/evaluations")).body["evaluations"] == []


async def test_guide_walkthrough_define_group(api: Api) -> None:
    r = await api.post(
        "/mgmt/v1/security-groups",
        {
            "name": "hf-strict",
            "source_type": "HUGGING_FACE",
            "description": "Block unsafe Hugging Face models",
        },
    )
    group = r.body
    ris = (
        await api.get(
            f"/mgmt/v1/security-groups/{group['uuid']}/rule-instances", params={"limit": 20}
        )
    ).body["rule_instances"]
    assert all(ri["state"] in ("BLOCKING", "ALLOWING", "DISABLED") for ri in ris)
    target = ris[0]
    r = await api.put(
        f"/mgmt/v1/security-groups/{group['uuid']}/rule-instances/{target['uuid']}",
        {"security_group_uuid": group["uuid"], "state": "BLOCKING"},
    )
    assert r.status == 200
    assert r.body["state"] == "BLOCKING"
    # the rest of the guide's group operations
    r = await api.get(
        "/mgmt/v1/security-groups",
        params={"skip": 0, "limit": 10, "sort_field": "created_at", "sort_dir": "desc"},
    )
    assert r.body["security_groups"][0]["uuid"] == group["uuid"]
    r = await api.get(
        "/mgmt/v1/security-groups",
        params={"source_types": ["HUGGING_FACE", "S3"], "search_query": "strict"},
    )
    assert [g["uuid"] for g in r.body["security_groups"]] == [group["uuid"]]
    r = await api.put(
        f"/mgmt/v1/security-groups/{group['uuid']}",
        {"name": "production-models-v2", "description": "Updated description"},
    )
    assert r.body["name"] == "production-models-v2"


async def test_guide_walkthrough_scan_hf_model(tmp_path: Path, http: Any) -> None:
    scanner = pytest.importorskip("modelsec.scanner")
    if not hasattr(scanner, "scan_path"):
        pytest.skip("modelsec.scanner.scan_path is not available yet")
    model = tmp_path / "huggingface" / "my-org" / "my-model"
    model.mkdir(parents=True)
    (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n# my model\n")
    (model / "config.json").write_text('{"a": 1}')
    import pickle

    (model / "pytorch_model.bin").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    (tmp_path / "huggingface" / "my-org" / ".verified").write_text("")
    async with Emulator(port=0, settle_delay=0.01, hub=tmp_path) as emu:
        api = Api(emu, http)
        hf = await api.default_group("HUGGING_FACE")
        r = await api.post(
            "/data/v1/scans",
            {
                "model_uri": "hf://my-org/my-model",
                "security_group_uuid": hf,
                "scan_origin": "MODEL_SECURITY_SDK",
            },
        )
        assert r.body["eval_outcome"] == "PENDING"
        result = await api.wait_scan(r.body["uuid"])
        assert result["eval_outcome"] == "BLOCKED", result
        v = (
            await api.get(f"/data/v1/scans/{r.body['uuid']}/rule-violations", params={"limit": 20})
        ).body["violations"]
        assert any(
            x["threat"] == "UNAPPROVED_FORMATS" and "pytorch_model.bin" in x["description"]
            for x in v
        )
        mv = (await api.get(f"/data/v1/model-versions/{result['model_version_uuid']}")).body
        assert mv["license"] == "apache-2.0"
        assert mv["hf_organization"] == "my-org"
