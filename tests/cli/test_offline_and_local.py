"""CLI tests that need no emulator: help, usage errors, offline scans, renderers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from modelsec.cli import main
from modelsec.cli.demo import malicious_pickle, write_benign_model
from modelsec.cli.formats import ModelResult, Report, ViolationRecord, render
from tests.cli.conftest import base_env, run_cli
from tests.cli.test_scan_e2e import check_report_shape, validate_sarif

GROUP_HELP = [
    [],
    ["scan"],
    ["demo"],
    ["scans"],
    ["scans", "labels"],
    ["scans", "list"],
    ["groups"],
    ["groups", "set-rule"],
    ["rules"],
    ["models"],
    ["custom-rules"],
    ["custom-rules", "create"],
    ["pypi-auth"],
]


@pytest.mark.parametrize("words", GROUP_HELP, ids=lambda w: " ".join(w) or "top")
def test_help_reads_well(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*words, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: modelsec")
    assert "--help" in out


def test_top_help_lists_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    for cmd in (
        "scan",
        "demo",
        "emulator",
        "scans",
        "groups",
        "rules",
        "models",
        "custom-rules",
        "pypi-auth",
    ):
        assert f"\n    {cmd}" in out
    assert "PANW_MODEL_SEC_CLIENT_ID" in out


def test_emulator_help_speaks_as_modelsec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--help"]) == 0
    assert "usage: modelsec emulator" in capsys.readouterr().out


def test_group_without_command_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scans"]) == 2
    assert "usage: modelsec scans" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["scan"],
        ["scan", "x", "--format", "yaml"],
        ["no-such-command"],
        ["scan", "--offline", "hf://org/model"],
        ["scan", "--offline", "x", "--policy", "/no/such/policy.json"],
        ["scan", "x", "-l", "not a label"],
        ["scan", "ftp://host/model"],
    ],
)
def test_errors_are_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "error:" in err
    assert "Traceback" not in err


def test_missing_credentials_one_line(tmp_path: Path) -> None:
    r = run_cli("scans", "list", env=base_env())
    assert r.code == 2
    assert r.err.count("\n") == 1
    assert "PANW_MODEL_SEC_CLIENT_ID" in r.err
    assert "Traceback" not in r.err


def test_offline_exit_codes_and_formats(tmp_path: Path) -> None:
    # a real benign model: a folder with only config.json is judged by nothing (exit 2)
    good = write_benign_model(tmp_path / "good")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(malicious_pickle())
    r = run_cli("scan", "--offline", str(good))
    assert r.code == 0, r.err
    r = run_cli("scan", "--offline", str(bad), "-f", "json")
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    check_report_shape(doc)
    assert doc["results"][0]["violations"][0]["threat"] == "PAIT-PKL-100"
    r = run_cli("scan", "--offline", str(bad), str(tmp_path / "missing"), "-f", "sarif")
    assert r.code == 2
    sarif = validate_sarif(r.out)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 1
    assert "missing" in notes[0]["message"]["text"]
    # a single-file target is itself the location
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"].endswith("bad.pkl")


def test_offline_policy_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.pkl"
    bad.write_bytes(malicious_pickle())
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "rules": {"Load Time Code Execution Check": "ALLOWING"},
                "approved_formats": ["pickle"],
            }
        )
    )
    r = run_cli("scan", "--offline", str(bad), "--policy", str(policy), "-f", "json")
    assert r.code == 0, r.err
    res = json.loads(r.out)["results"][0]
    assert res["outcome"] == "ALLOWED"
    assert [v["rule_instance_state"] for v in res["violations"]] == ["ALLOWING"]
    policy.write_text(json.dumps({"rules": {"No Such Rule": "BLOCKING"}}))
    r = run_cli("scan", "--offline", str(bad), "--policy", str(policy))
    assert r.code == 2
    assert r.err.count("\n") == 1
    assert "No Such Rule" in r.err


def _report(*outcomes: str, block_on_errors: bool = False) -> Report:
    results = []
    for i, o in enumerate(outcomes):
        v = (
            [
                ViolationRecord(
                    rule_name="Load Time Code Execution Check",
                    rule_instance_state="BLOCKING",
                    description='bad <pickle> & "quotes"',
                    file="dir with space/model.pkl",
                    threat="PAIT-PKL-100",
                    remediation_steps=["Do not load it."],
                    remediation_url="https://example.com/fix",
                )
            ]
            if o == "BLOCKED"
            else []
        )
        results.append(
            ModelResult(
                target=f"hf://org/model-{i}",
                outcome=o,
                settled=o != "TIMEOUT",
                error_code="SCAN_ERROR" if o == "ERROR" else None,
                violations=v,
            )
        )
    return Report(mode="online", results=results, block_on_errors=block_on_errors)


@pytest.mark.parametrize(
    ("outcomes", "block_on_errors", "code"),
    [
        (["ALLOWED"], False, 0),
        (["ALLOWED", "BLOCKED"], False, 1),
        (["BLOCKED", "ERROR"], False, 2),
        (["BLOCKED", "ERROR"], True, 1),
        (["ALLOWED", "TIMEOUT"], True, 2),
        ([], False, 2),
    ],
)
def test_exit_code_rules(outcomes: list[str], block_on_errors: bool, code: int) -> None:
    assert _report(*outcomes, block_on_errors=block_on_errors).exit_code == code


def test_renderers_escape_and_validate() -> None:
    report = _report("ALLOWED", "BLOCKED", "ERROR", "TIMEOUT")
    sarif = validate_sarif(render(report, "sarif"))
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"] == "hf://org/model-1/dir%20with%20space/model.pkl"
    root = ET.fromstring(render(report, "junit"))
    assert root.get("errors") == "2"
    assert root.get("failures") == "1"
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None
    assert 'bad <pickle> & "quotes"' in (failure.get("message") or "")
    check_report_shape(json.loads(render(report, "json")))
    text = render(report, "text")
    assert "4 models: 1 allowed, 1 blocked, 1 error, 1 timed out" in text


def test_github_actions_example_parses() -> None:
    yaml = pytest.importorskip("yaml")
    path = Path(__file__).parents[2] / "examples" / "github-actions.yml"
    doc = yaml.safe_load(path.read_text())
    steps = doc["jobs"]["scan"]["steps"]
    run = next(s["run"] for s in steps if s.get("id") == "scan")
    assert "modelsec scan" in run and "--format sarif --output modelsec.sarif" in run
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action")]
    assert uploads[0]["with"]["sarif_file"] == "modelsec.sarif"
    assert doc["permissions"]["security-events"] == "write"
