"""``modelsec scan`` as a subprocess against the emulator: exit codes and every format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from modelsec.emulator import EmulatorThread
from tests.cli.conftest import run_cli

FAST = ("--poll-interval", "0.05")
SCHEMA_PATH = Path(__file__).with_name("sarif-2.1.0.json")


def scan(env: dict[str, str], *args: str) -> Any:
    return run_cli("scan", *FAST, *args, env=env)


def check_report_shape(doc: dict[str, Any]) -> None:
    """The JSON shape documented in modelsec.cli.formats."""
    assert doc["version"] == 1
    assert doc["tool"]["name"] == "modelsec"
    assert doc["mode"] in ("online", "offline")
    assert doc["outcome"] in ("ALLOWED", "BLOCKED", "ERROR")
    assert doc["exit_code"] in (0, 1, 2)
    assert set(doc["summary"]) == {"total", "allowed", "blocked", "errors", "timeouts"}
    assert doc["summary"]["total"] == len(doc["results"])
    for r in doc["results"]:
        assert set(r) == {
            "target",
            "outcome",
            "source_type",
            "scan_uuid",
            "security_group_uuid",
            "security_group_name",
            "eval_summary",
            "error",
            "model_formats",
            "files_scanned",
            "files_skipped",
            "duration_seconds",
            "violations",
        }
        assert r["outcome"] in ("ALLOWED", "BLOCKED", "ERROR", "TIMEOUT")
        for v in r["violations"]:
            assert set(v) == {
                "rule_name",
                "rule_instance_state",
                "description",
                "file",
                "threat",
                "threat_description",
                "module",
                "operator",
                "remediation",
            }
            assert set(v["remediation"]) == {"steps", "url"}


def validate_sarif(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)
    return doc


def test_allowed_local_model_exits_0_with_json(
    cli_env: dict[str, str], models: dict[str, Path]
) -> None:
    r = scan(cli_env, str(models["benign"]), "--format", "json", "-l", "team=ml")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    check_report_shape(doc)
    (res,) = doc["results"]
    assert res["outcome"] == "ALLOWED"
    assert res["source_type"] == "LOCAL"
    assert res["security_group_name"] == "Default LOCAL"
    assert res["scan_uuid"]
    assert "safetensors" in res["model_formats"]
    assert doc["exit_code"] == 0
    assert doc["outcome"] == "ALLOWED"


def test_blocked_local_model_exits_1_with_violations(
    cli_env: dict[str, str], models: dict[str, Path]
) -> None:
    r = scan(cli_env, str(models["malicious"]))
    assert r.code == 1, r.err
    assert r.out.startswith("BLOCKED")
    assert "Load Time Code Execution Check" in r.out
    assert "PAIT-PKL-100" in r.out
    assert "1 model: 1 blocked" in r.out


def test_sarif_validates_and_locates_violations(
    cli_env: dict[str, str], models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "scan.sarif"
    r = scan(
        cli_env, str(models["malicious"]), str(models["benign"]), "-f", "sarif", "-o", str(out)
    )
    assert r.code == 1, r.err
    assert "BLOCKED" in r.out  # the text summary still reaches the log
    doc = validate_sarif(out.read_text())
    run = doc["runs"][0]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    results = run["results"]
    assert results, "each violation becomes a result"
    pkl = [x for x in results if x["properties"].get("threat") == "PAIT-PKL-100"]
    assert pkl, results
    res = pkl[0]
    assert res["level"] == "error"
    assert res["ruleId"] == "modelsec/load-time-code-execution-check"
    assert rules[res["ruleId"]]["help"]["text"]  # remediation
    uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("malicious/model.pkl")
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["exitCode"] == 1


def test_junit_one_testcase_per_model(cli_env: dict[str, str], models: dict[str, Path]) -> None:
    r = scan(cli_env, str(models["benign"]), str(models["malicious"]), "--format", "junit")
    assert r.code == 1, r.err
    root = ET.fromstring(r.out)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [str(models["benign"]), str(models["malicious"])]
    assert cases[0].find("failure") is None
    assert cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("type") == "BLOCKED"
    assert root.get("tests") == "2"
    assert root.get("failures") == "1"
    assert root.get("errors") == "0"


def test_remote_model_missing_from_hub_is_an_error(cli_env: dict[str, str]) -> None:
    r = scan(cli_env, "hf://nobody/missing-model", "--format", "json")
    assert r.code == 2, r.err
    doc = json.loads(r.out)
    check_report_shape(doc)
    (res,) = doc["results"]
    assert res["outcome"] == "ERROR"
    assert res["source_type"] == "HUGGING_FACE"
    assert res["security_group_name"] == "Default HUGGING_FACE"
    assert res["error"]["code"] == "MISSING_ARTIFACTS"


def test_block_on_errors_turns_a_scan_error_into_blocked(cli_env: dict[str, str]) -> None:
    r = scan(cli_env, "hf://nobody/missing-model", "--block-on-errors", "-f", "junit")
    assert r.code == 1, r.err
    case = ET.fromstring(r.out).find("./testsuite/testcase")
    assert case is not None
    assert case.find("failure") is not None


def test_timeout_exits_2(
    emulator: EmulatorThread, cli_env: dict[str, str], models: dict[str, Path]
) -> None:
    emulator.settle_delay = 30.0
    try:
        r = scan(cli_env, str(models["benign"]), "--timeout", "0.3", "--format", "json")
    finally:
        emulator.settle_delay = 0.1
    assert r.code == 2, r.err
    doc = json.loads(r.out)
    check_report_shape(doc)
    assert doc["results"][0]["outcome"] == "TIMEOUT"
    assert doc["summary"]["timeouts"] == 1


def test_many_targets_keep_input_order(cli_env: dict[str, str], models: dict[str, Path]) -> None:
    targets = [str(models["malicious"]), "hf://nobody/missing-model", str(models["benign"])]
    r = scan(cli_env, *targets, "--format", "json", "--concurrency", "2")
    assert r.code == 2  # an error outranks a block
    doc = json.loads(r.out)
    assert [x["target"] for x in doc["results"]] == targets
    assert [x["outcome"] for x in doc["results"]] == ["BLOCKED", "ERROR", "ALLOWED"]


def test_group_by_name_and_flags_override_env(
    emulator: EmulatorThread, models: dict[str, Path]
) -> None:
    kw = emulator.client_kwargs()
    r = run_cli(
        "scan",
        *FAST,
        str(models["benign"]),
        "--group",
        "Default LOCAL",
        "--client-id",
        kw["client_id"],
        "--client-secret",
        kw["client_secret"],
        "--tsg-id",
        kw["tsg_id"],
        "--api-endpoint",
        emulator.base_url + "/aims",
        "--token-endpoint",
        kw["token_endpoint"],
        "-f",
        "sarif",
    )
    assert r.code == 0, r.err
    doc = validate_sarif(r.out)
    assert kw["client_secret"] not in r.out  # the command line in SARIF is redacted
    assert doc["runs"][0]["results"] == []


def test_unknown_group_is_one_line_error(cli_env: dict[str, str], models: dict[str, Path]) -> None:
    r = scan(cli_env, str(models["benign"]), "--group", "No Such Group")
    assert r.code == 2
    assert r.err.count("\n") == 1
    assert r.err.startswith("modelsec: error:")
    assert "Traceback" not in r.err


@pytest.mark.parametrize("name", ["benign", "malicious"])
def test_offline_agrees_with_the_emulator(
    cli_env: dict[str, str], models: dict[str, Path], name: str
) -> None:
    online = json.loads(scan(cli_env, str(models[name]), "-f", "json").out)
    offline_run = run_cli("scan", "--offline", str(models[name]), "-f", "json")
    offline = json.loads(offline_run.out)
    check_report_shape(offline)
    assert offline["mode"] == "offline"
    on, off = online["results"][0], offline["results"][0]
    assert on["outcome"] == off["outcome"]
    assert on["eval_summary"] == off["eval_summary"]
    assert online["exit_code"] == offline["exit_code"] == offline_run.code
    assert sorted(v["rule_name"] for v in on["violations"]) == sorted(
        v["rule_name"] for v in off["violations"]
    )
