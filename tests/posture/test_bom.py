"""CycloneDX 1.6 ML-BOM: validated against the official schema the library ships."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.bom import MissingExtraError, to_cyclonedx
from modelsec.cli.demo import write_benign_model, write_malicious_model
from tests.cli.conftest import base_env, run_cli


def validate(text: str) -> dict[str, Any]:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    data: dict[str, Any] = json.loads(text)
    assert data["specVersion"] == "1.6" and data["bomFormat"] == "CycloneDX"
    return data


def props(obj: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in obj.get("properties", [])}


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    return {
        "benign": write_benign_model(tmp_path / "benign"),
        "malicious": write_malicious_model(tmp_path / "malicious"),
    }


def test_offline_cli_bom(models: dict[str, Path]) -> None:
    r = run_cli(
        "scan",
        "--offline",
        str(models["benign"]),
        str(models["malicious"]),
        "-f",
        "cyclonedx",
        "-q",
    )
    assert r.code == 1, r.err
    bom = validate(r.out)
    benign, bad = bom["components"]
    assert benign["type"] == bad["type"] == "machine-learning-model"
    assert benign["name"] == str(models["benign"])
    assert props(benign)["modelsec:verdict"] == "ALLOWED"
    assert props(bad)["modelsec:verdict"] == "BLOCKED"
    for comp in benign["components"]:
        data = (models["benign"] / comp["name"]).read_bytes()
        assert comp["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(data).hexdigest()}]
        assert props(comp)["modelsec:size_bytes"] == str(len(data))
    by_name = {c["name"]: c for c in bad["components"]}
    assert props(by_name["model.pkl"])["modelsec:formats"] == "pickle"
    [vuln] = [v for v in bom["vulnerabilities"] if v["id"] == "PAIT-PKL-100"]
    assert vuln["affects"] == [{"ref": by_name["model.pkl"]["bom-ref"]}]
    assert props(vuln)["modelsec:rule"] == "Load Time Code Execution Check"
    assert vuln["recommendation"].startswith("Do not load")
    assert vuln["ratings"] == [{"severity": "high"}]


async def test_sdk_scan_results_bom(
    client: AsyncModelSecurityClient, models: dict[str, Path]
) -> None:
    page = await client.security_groups.list(search_query="Default LOCAL")
    [group] = [g for g in page.security_groups if g.name == "Default LOCAL"]
    results = [
        await client.scan(str(models[k]), security_group_uuid=group.uuid)
        for k in ("benign", "malicious")
    ]
    bom = validate(to_cyclonedx(results))
    for comp, result, key in zip(bom["components"], results, ("benign", "malicious"), strict=True):
        assert result.scan is not None
        assert props(comp)["modelsec:scan_uuid"] == result.scan.uuid
        assert props(comp)["modelsec:verdict"] == str(result.scan.eval_outcome.value)  # type: ignore[union-attr]
        assert props(comp)["modelsec:security_group"] == "Default LOCAL"
        files = sorted(p.name for p in models[key].iterdir())
        assert sorted(c["name"] for c in comp["components"]) == files
    assert any(v["id"] == "PAIT-PKL-100" for v in bom["vulnerabilities"])


def test_missing_extra_is_one_line(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cyclonedx.model.bom", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'modelsec\[cyclonedx\]'"):
        to_cyclonedx([])
    # The CLI says so before scanning anything: a cyclonedx package that fails to import.
    fake = tmp_path / "fake"
    (fake / "cyclonedx").mkdir(parents=True)
    (fake / "cyclonedx" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = base_env()
    env["PYTHONPATH"] = os.pathsep.join([str(fake), os.getcwd()])
    r = run_cli("scan", "--offline", str(models["benign"]), "-f", "cyclonedx", env=env)
    assert r.code == 2 and r.out == ""
    assert r.err.strip().splitlines() == [
        "modelsec: error: CycloneDX output needs cyclonedx-python-lib: "
        "pip install 'modelsec[cyclonedx]'"
    ]
