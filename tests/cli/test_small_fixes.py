"""The small points of issue 14 (point 13): SARIF locations, demo JSON, --limit, set-rule
output, the FastAPI example's scan route and the GitHub Actions example's install step."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from modelsec.cli.demo import malicious_pickle
from modelsec.emulator import EmulatorThread
from tests.cli.conftest import base_env, run_cli
from tests.cli.test_scan_e2e import validate_sarif

ROOT = Path(__file__).parents[2]


def _locations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    run = doc["runs"][0]
    items = [*run["results"], *run["invocations"][0]["toolExecutionNotifications"]]
    return [loc["physicalLocation"]["artifactLocation"] for i in items for loc in i["locations"]]


def test_sarif_uris_are_relative_to_the_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    (work / "models" / "bad model").mkdir(parents=True)
    (work / "models" / "bad model" / "weights.pkl").write_bytes(malicious_pickle())
    outside = tmp_path / "elsewhere.pkl"
    outside.write_bytes(malicious_pickle())
    r = run_cli(
        "scan",
        "--offline",
        "models/bad model",  # relative
        str(work / "models" / "bad model" / "weights.pkl"),  # absolute, under the cwd
        str(outside),  # outside the cwd
        "models/missing",  # an error: a notification with a location
        "-f",
        "sarif",
        cwd=work,
        env={**base_env(), "PYTHONPATH": str(ROOT)},  # this checkout's modelsec, from any cwd
    )
    assert r.code == 2, r.err
    doc = validate_sarif(r.out)
    locs = _locations(doc)
    inside = [x for x in locs if x.get("uriBaseId")]
    assert {x["uri"] for x in inside} == {
        "models/bad%20model/weights.pkl",
        "models/missing",
    }
    assert all(x["uriBaseId"] == "%SRCROOT%" for x in inside)
    base = doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == work.resolve().as_uri() + "/"
    absolute = [x for x in locs if not x.get("uriBaseId")]
    assert {x["uri"] for x in absolute} == {outside.resolve().as_uri()}


def test_sarif_of_remote_models_needs_no_base(cli_env: dict[str, str]) -> None:
    r = run_cli(
        "scan", "--poll-interval", "0.05", "hf://nobody/nothing", "-f", "sarif", env=cli_env
    )
    assert r.code == 2
    doc = validate_sarif(r.out)
    assert _locations(doc) == [{"uri": "hf://nobody/nothing"}]
    assert "originalUriBaseIds" not in doc["runs"][0]


def test_demo_json_exit_code_matches_the_process() -> None:
    r = run_cli("demo", "--format", "json", env=base_env())
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["exit_code"] == r.code
    assert doc["demo"]["passed"] is True
    assert doc["demo"]["got"] == {"benign-model": "ALLOWED", "malicious-model": "BLOCKED"}
    assert [x["outcome"] for x in doc["results"]] == ["ALLOWED", "BLOCKED"]


def test_list_limit_one_makes_one_request(
    cli_env: dict[str, str], emulator: EmulatorThread, models: dict[str, Path]
) -> None:
    for _ in range(3):  # more scans than the limit, so a second page would exist
        r = run_cli("scan", "--poll-interval", "0.05", str(models["benign"]), env=cli_env)
        assert r.code == 0, r.err
    before = emulator.stats.count("GET", "/aims/data/v1/scans")
    r = run_cli("scans", "list", "--limit", "1", "--format", "json", env=cli_env)
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 1
    assert emulator.stats.count("GET", "/aims/data/v1/scans") - before == 1
    before = emulator.stats.count("GET", "/aims/data/v1/scans")
    r = run_cli("scans", "list", "--limit", "2", "--format", "json", env=cli_env)
    assert len(json.loads(r.out)) == 2
    assert emulator.stats.count("GET", "/aims/data/v1/scans") - before == 1


def test_set_rule_prints_the_rule_not_a_json_blob(cli_env: dict[str, str]) -> None:
    r = run_cli(
        "groups",
        "create",
        "--name",
        "set-rule output",
        "--source-type",
        "LOCAL",
        "--wait",
        "--format",
        "json",
        env=cli_env,
    )
    assert r.code == 0, r.err
    group = json.loads(r.out)["uuid"]
    r = run_cli(
        "groups",
        "set-rule",
        group,
        "Stored In Approved File Format",
        "--state",
        "ALLOWING",
        "--field",
        "approved_formats=safetensors,onnx",
        env=cli_env,
    )
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"Stored In Approved File Format: ALLOWING (security group {group})",
        "  approved_formats: safetensors, onnx",
    ]
    assert "{" not in r.out
    run_cli("groups", "delete", group, env=cli_env)


# ---------------------------------------------------------------------------------- examples


@pytest.fixture
def fastapi_app(tmp_path: Path) -> Any:
    pytest.importorskip("fastapi")
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import fastapi_app
    finally:
        sys.path.pop(0)
    return fastapi_app


def test_fastapi_scan_route_takes_remote_uris_only(fastapi_app: Any, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    secret = tmp_path / "server-side.pkl"
    secret.write_bytes(malicious_pickle())
    hub = tmp_path / "hub"
    (hub / "huggingface" / "evil" / "model").mkdir(parents=True)
    (hub / "huggingface" / "evil" / "model" / "model.pkl").write_bytes(malicious_pickle())
    with EmulatorThread(port=0, settle_delay=0.02, hub=hub) as emu:
        fastapi_app.app.state.modelsec_options = emu.client_kwargs()
        with TestClient(fastapi_app.app) as http:
            for uri in (str(secret), f"file://{secret}", "./models", "ftp://host/model"):
                resp = http.post("/scan", json={"model_uri": uri})
                assert resp.status_code == 422, (uri, resp.text)
                assert "remote model URI" in resp.json()["detail"]
            assert emu.scan_count() == 0  # nothing on the server's disk was scanned
            # Object storage (s3://...) is read by the SDK on the server with its own
            # credentials (tests/storage covers that against real local servers); a Hugging
            # Face model is fetched by the service: the group follows the source type.
            hf = http.post("/scan", json={"model_uri": "hf://evil/model"})
            assert hf.status_code == 200, hf.text
            assert hf.json()["security_group_name"] == "Default HUGGING_FACE"
            assert hf.json()["outcome"] == "BLOCKED" and hf.json()["passed"] is False


def test_github_actions_installs_from_the_users_clone() -> None:
    yaml = pytest.importorskip("yaml")
    from packaging.requirements import Requirement

    doc = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    found = re.search(r'(?m)^name = "([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert found is not None
    project = found.group(1)
    for name, job in doc["jobs"].items():
        runs = [str(s.get("run", "")) for s in job["steps"]]
        installs = [line for r in runs for line in r.splitlines() if "pip install" in line]
        assert installs, f"job {name} installs nothing"
        for line in installs:
            # never a bare name from PyPI: the published `modelsec` is somebody else's
            assert "pip install modelsec" not in line and "pip install 'modelsec'" not in line
            assert '"modelsec @ $MODELSEC_SOURCE"' in line, line
        step = next(s for s in job["steps"] if "pip install" in str(s.get("run", "")))
        assert step["env"]["MODELSEC_SOURCE"] == "${{ vars.MODELSEC_SOURCE }}"
        assert 'if [ -z "$MODELSEC_SOURCE" ]' in step["run"]  # unset: a clear error
    example = "git+https://github.com/your-org/modelsec@v0.1.0"
    assert example in (ROOT / "examples" / "github-actions.yml").read_text()
    req = Requirement(f"modelsec @ {example}")
    assert req.name == project and req.url == example
    assert os.path.exists(ROOT / "pyproject.toml")  # what such a URL installs
