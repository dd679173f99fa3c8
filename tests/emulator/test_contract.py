"""Every operation of both planes and the newer endpoints, success and error, over real
sockets; every response is validated against the vendored specs by the ``api`` fixture."""

from __future__ import annotations

import uuid

from tests.emulator.conftest import SEEN, TEMPLATES, Api, bad_file, clean_file, scan_details

MISSING = str(uuid.uuid4())


async def test_every_operation_success_and_errors(api: Api) -> None:
    SEEN.clear()
    # ---- management plane
    r = await api.get("/mgmt/v1/security-rules", params={"limit": 100})
    assert r.status == 200
    assert len(r.body["rules"]) == 12
    rule = r.body["rules"][0]
    assert (await api.get(f"/mgmt/v1/security-rules/{rule['uuid']}")).status == 200
    assert (await api.get(f"/mgmt/v1/security-rules/{MISSING}")).status == 404
    assert (await api.get("/mgmt/v1/security-rules", params={"search_query": "ab"})).status == 422
    assert (await api.get("/mgmt/v1/security-rules/not-a-uuid")).status == 422
    assert (await api.get("/mgmt/v1/security-rules/versions")).status == 200
    assert (await api.get("/mgmt/v1/security-rules/versions", params={"limit": 0})).status == 422

    r = await api.post(
        "/mgmt/v1/security-groups",
        {"name": "contract", "source_type": "LOCAL", "description": "d"},
    )
    assert r.status == 201
    assert r.body["state"] == "PENDING"
    sg = r.body["uuid"]
    assert (await api.post("/mgmt/v1/security-groups", {"name": "x"})).status == 422
    assert (
        await api.post("/mgmt/v1/security-groups", {"name": "contract", "source_type": "LOCAL"})
    ).status == 409
    assert (await api.get("/mgmt/v1/security-groups")).status == 200
    assert (await api.get("/mgmt/v1/security-groups", params={"search_query": "ab"})).status == 422
    assert (await api.get(f"/mgmt/v1/security-groups/{sg}")).status == 200
    assert (await api.get(f"/mgmt/v1/security-groups/{MISSING}")).status == 404
    assert (await api.put(f"/mgmt/v1/security-groups/{sg}", {"name": "contract2"})).status == 200
    assert (await api.put(f"/mgmt/v1/security-groups/{sg}", {"bogus": 1})).status == 422
    assert (await api.put(f"/mgmt/v1/security-groups/{MISSING}", {"name": "n"})).status == 404

    r = await api.get(f"/mgmt/v1/security-groups/{sg}/rule-instances", params={"limit": 50})
    assert r.status == 200
    assert len(r.body["rule_instances"]) == 7
    ri = r.body["rule_instances"][0]["uuid"]
    assert (await api.get(f"/mgmt/v1/security-groups/{MISSING}/rule-instances")).status == 404
    assert (
        await api.get(f"/mgmt/v1/security-groups/{sg}/rule-instances", params={"state": "NOPE"})
    ).status == 422
    assert (await api.get(f"/mgmt/v1/security-groups/{sg}/rule-instances/{ri}")).status == 200
    assert (await api.get(f"/mgmt/v1/security-groups/{sg}/rule-instances/{MISSING}")).status == 404
    r = await api.put(
        f"/mgmt/v1/security-groups/{sg}/rule-instances/{ri}",
        {"security_group_uuid": sg, "state": "ALLOWING"},
    )
    assert r.status == 200
    assert r.body["state"] == "ALLOWING"
    assert (
        await api.put(f"/mgmt/v1/security-groups/{sg}/rule-instances/{ri}", {"state": "ALLOWING"})
    ).status == 422
    assert (
        await api.put(
            f"/mgmt/v1/security-groups/{sg}/rule-instances/{MISSING}", {"security_group_uuid": sg}
        )
    ).status == 404
    assert (await api.get(f"/mgmt/v1/security-groups/{sg}/rule-instances/versions")).status == 200
    assert (
        await api.get(f"/mgmt/v1/security-groups/{MISSING}/rule-instances/versions")
    ).status == 404

    r = await api.get("/mgmt/v1/pypi/authenticate")
    assert r.status == 200
    assert "@" in r.body["url"]

    # custom rules
    body = {
        "name": "needs review",
        "compatible_sources": ["LOCAL"],
        "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
        "violation_message": "Review required",
    }
    r = await api.post("/mgmt/v1/custom-rules", body)
    assert r.status == 201
    cr = r.body["uuid"]
    assert (await api.post("/mgmt/v1/custom-rules", {**body, "extra": 1})).status == 422
    assert (await api.get("/mgmt/v1/custom-rules")).status == 200
    assert (await api.get("/mgmt/v1/custom-rules", params={"limit": 101})).status == 422
    assert (await api.get(f"/mgmt/v1/custom-rules/{cr}")).status == 200
    assert (await api.get(f"/mgmt/v1/custom-rules/{MISSING}")).status == 404
    assert (await api.put(f"/mgmt/v1/custom-rules/{cr}", {"description": "x"})).status == 200
    assert (await api.put(f"/mgmt/v1/custom-rules/{cr}", {"rule_action": "MAYBE"})).status == 422
    assert (await api.put(f"/mgmt/v1/custom-rules/{MISSING}", {"description": "x"})).status == 404
    assert (await api.post(f"/mgmt/v1/custom-rules/{cr}/archive")).status == 200
    assert (await api.post(f"/mgmt/v1/custom-rules/{cr}/unarchive")).status == 200
    assert (await api.post(f"/mgmt/v1/custom-rules/{MISSING}/archive")).status == 404
    assert (await api.post(f"/mgmt/v1/custom-rules/{MISSING}/unarchive")).status == 404
    r = await api.post(
        f"/mgmt/v1/custom-rules/{cr}/security-groups",
        {"assignments": [{"security_group_uuid": sg, "state": "BLOCKING"}]},
    )
    assert r.status == 207
    assert r.body["results"][0]["status"] == "created"
    assert (
        await api.post(f"/mgmt/v1/custom-rules/{cr}/security-groups", {"assignments": []})
    ).status == 422
    assert (
        await api.post(
            f"/mgmt/v1/custom-rules/{MISSING}/security-groups",
            {"assignments": [{"security_group_uuid": sg, "state": "BLOCKING"}]},
        )
    ).status == 404
    assert (await api.get(f"/mgmt/v1/custom-rules/{cr}/security-groups")).status == 200
    assert (await api.get(f"/mgmt/v1/custom-rules/{MISSING}/security-groups")).status == 404
    assert (await api.get("/mgmt/v1/custom-rules/versions")).status == 200
    assert (
        await api.get("/mgmt/v1/custom-rules/versions", params={"next_token": "!!"})
    ).status == 422

    # ---- data plane
    local = await api.default_group("LOCAL")
    details = scan_details([clean_file(), bad_file("sub/pytorch_model.bin")])
    r = await api.post(
        "/data/v1/scans",
        {
            "model_uri": "/models/demo",
            "security_group_uuid": local,
            "scan_details": details,
            "labels": [{"key": "team", "value": "ml"}],
        },
    )
    assert r.status == 201
    assert r.body["eval_outcome"] == "PENDING"
    scan = r.body["uuid"]
    assert (await api.post("/data/v1/scans", {"model_uri": "x"})).status == 422
    assert (
        await api.post("/data/v1/scans", {"model_uri": "x", "security_group_uuid": MISSING})
    ).status == 404
    settled = await api.wait_scan(scan)
    assert settled["eval_outcome"] == "BLOCKED"
    assert (await api.get("/data/v1/scans")).status == 200
    assert (await api.get("/data/v1/scans", params={"limit": 0})).status == 422
    assert (await api.get(f"/data/v1/scans/{MISSING}")).status == 404
    r = await api.get(f"/data/v1/scans/{scan}/evaluations", params={"limit": 100})
    assert r.status == 200
    assert r.body["evaluations"]
    ev = r.body["evaluations"][0]["uuid"]
    assert (await api.get(f"/data/v1/scans/{MISSING}/evaluations")).status == 404
    assert (
        await api.get(f"/data/v1/scans/{scan}/evaluations", params={"result": "MEH"})
    ).status == 422
    assert (await api.get(f"/data/v1/evaluations/{ev}")).status == 200
    assert (await api.get(f"/data/v1/evaluations/{MISSING}")).status == 404
    r = await api.get(f"/data/v1/scans/{scan}/rule-violations")
    assert r.status == 200
    assert r.body["violations"]
    vi = r.body["violations"][0]["uuid"]
    assert (await api.get(f"/data/v1/scans/{MISSING}/rule-violations")).status == 404
    assert (
        await api.get(f"/data/v1/scans/{scan}/rule-violations", params={"limit": "x"})
    ).status == 422
    assert (await api.get(f"/data/v1/violations/{vi}")).status == 200
    assert (await api.get(f"/data/v1/violations/{MISSING}")).status == 404
    assert (await api.get(f"/data/v1/scans/{scan}/files")).status == 200
    assert (await api.get(f"/data/v1/scans/{MISSING}/files")).status == 404
    assert (
        await api.get(f"/data/v1/scans/{scan}/files", params={"sort_field": "size"})
    ).status == 422
    labels = {"labels": [{"key": "env", "value": "prod"}]}
    assert (await api.post(f"/data/v1/scans/{scan}/labels", labels)).status == 200
    assert (
        await api.post(f"/data/v1/scans/{scan}/labels", {"labels": [{"key": "a b", "value": "x"}]})
    ).status == 422
    assert (await api.post(f"/data/v1/scans/{MISSING}/labels", labels)).status == 404
    assert (await api.put(f"/data/v1/scans/{scan}/labels", labels)).status == 200
    assert (await api.put(f"/data/v1/scans/{scan}/labels", {"labels": []})).status == 422
    assert (await api.put(f"/data/v1/scans/{MISSING}/labels", labels)).status == 404
    assert (await api.delete(f"/data/v1/scans/{scan}/labels", params={"keys": "env"})).status == 204
    assert (await api.delete(f"/data/v1/scans/{scan}/labels")).status == 422
    assert (
        await api.delete(f"/data/v1/scans/{MISSING}/labels", params={"keys": "env"})
    ).status == 404
    assert (await api.get("/data/v1/scans/label-keys")).status == 200
    assert (await api.get("/data/v1/scans/label-keys", params={"search": "a b"})).status == 422
    assert (await api.get("/data/v1/scans/label-keys/team/values")).status == 200
    assert (await api.get("/data/v1/scans/label-keys/te%20am/values")).status == 422

    r = await api.get("/data/v1/models")
    assert r.status == 200
    assert r.body["models"]
    model = r.body["models"][0]["uuid"]
    assert (await api.get("/data/v1/models", params={"sort_order": "up"})).status == 422
    assert (await api.get(f"/data/v1/models/{model}")).status == 200
    assert (await api.get(f"/data/v1/models/{MISSING}")).status == 404
    r = await api.get(f"/data/v1/models/{model}/model-versions")
    assert r.status == 200
    mv = r.body["model_versions"][0]["uuid"]
    assert (await api.get(f"/data/v1/models/{MISSING}/model-versions")).status == 404
    assert (
        await api.get(f"/data/v1/models/{model}/model-versions", params={"skip": -1})
    ).status == 422
    assert (await api.get(f"/data/v1/model-versions/{mv}")).status == 200
    assert (await api.get(f"/data/v1/model-versions/{MISSING}")).status == 404
    assert (await api.get(f"/data/v1/model-versions/{mv}/files")).status == 200
    assert (await api.get(f"/data/v1/model-versions/{MISSING}/files")).status == 404
    assert (
        await api.get(f"/data/v1/model-versions/{mv}/files", params={"limit": 1000})
    ).status == 422

    # deletes last
    assert (await api.delete(f"/mgmt/v1/custom-rules/{cr}/security-groups/{sg}")).status == 204
    assert (await api.delete(f"/mgmt/v1/custom-rules/{cr}/security-groups/{sg}")).status == 404
    assert (await api.delete(f"/mgmt/v1/security-groups/{sg}")).status == 204
    assert (await api.delete(f"/mgmt/v1/security-groups/{sg}")).status == 404
    assert (await api.delete("/mgmt/v1/security-groups/bad")).status == 422

    # unknown paths, wrong plane, wrong method
    assert (await api.get("/data/v1/security-groups")).status == 404
    assert (await api.get("/mgmt/v1/scans")).status == 404
    assert (await api.call("PATCH", "/data/v1/scans")).status == 405

    # coverage: every operation answered with success and with an error
    ops = {(p, m, t) for p, m, t in TEMPLATES}
    ok = {(p, m, t) for p, m, t, s in SEEN if 200 <= s < 300}
    err = {(p, m, t) for p, m, t, s in SEEN if s >= 400}
    assert ops - ok == set()
    assert ops - err <= {("mgmt", "get", "/v1/pypi/authenticate")}


async def test_validation_body_shape(api: Api) -> None:
    local = await api.default_group("LOCAL")
    r = await api.call("POST", "/data/v1/scans", raw=b"{nope")
    assert r.status == 422
    assert r.body["detail"][0]["type"] == "json_invalid"
    r = await api.post(
        "/data/v1/scans",
        {"model_uri": 5, "security_group_uuid": "abc", "zzz": 1, "labels": [{"key": "k"}] * 51},
    )
    assert r.status == 422
    types = {(tuple(e["loc"]), e["type"]) for e in r.body["detail"]}
    assert (("body", "model_uri"), "string_type") in types
    assert (("body", "security_group_uuid"), "uuid_parsing") in types
    assert (("body", "zzz"), "extra_forbidden") in types
    assert (("body", "labels"), "too_long") in types
    assert (("body", "labels", 0, "value"), "missing") in types
    r = await api.get("/data/v1/scans", params={"limit": 101, "source_types": ["S3", "NOPE"]})
    detail = {tuple(e["loc"]): e for e in r.body["detail"]}
    assert detail[("query", "limit")]["ctx"] == {"le": 100}
    assert detail[("query", "source_types", 1)]["type"] == "enum"
    # the scan_details schema is strict too
    bad = scan_details()
    del bad["scanner_version"]
    r = await api.post(
        "/data/v1/scans", {"model_uri": "/m", "security_group_uuid": local, "scan_details": bad}
    )
    assert r.body["detail"][0]["loc"] == ["body", "scan_details", "scanner_version"]
    r = await api.post("/mgmt/v1/security-groups", {"name": "", "source_type": "LOCAL"})
    assert r.body["detail"][0]["type"] == "string_too_short"
