"""Resource commands and ``modelsec demo`` as subprocesses against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelsec.emulator import EmulatorThread
from tests.cli.conftest import base_env, run_cli


@pytest.fixture(scope="module")
def blocked_scan(cli_env: dict[str, str], models: dict[str, Path]) -> str:
    r = run_cli(
        "scan", "--poll-interval", "0.05", str(models["malicious"]), "-f", "json", env=cli_env
    )
    assert r.code == 1, r.err
    uuid: str = json.loads(r.out)["results"][0]["scan_uuid"]
    return uuid


def cli_json(env: dict[str, str], *args: str) -> object:
    r = run_cli(*args, "--format", "json", env=env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_groups_list_table_and_json(cli_env: dict[str, str]) -> None:
    groups = cli_json(cli_env, "groups", "list", "--source-type", "LOCAL")
    assert isinstance(groups, list)
    assert "Default LOCAL" in [g["name"] for g in groups]
    r = run_cli("groups", "list", env=cli_env)
    assert r.code == 0, r.err
    header = r.out.splitlines()[0].split()
    assert header == ["UUID", "NAME", "SOURCE_TYPE", "STATE", "DESCRIPTION"]
    assert "Default HUGGING_FACE" in r.out


def test_list_limit_caps(cli_env: dict[str, str]) -> None:
    rules = cli_json(cli_env, "rules", "list", "--limit", "3")
    assert isinstance(rules, list)
    assert len(rules) == 3
    everything = cli_json(cli_env, "rules", "list")
    assert isinstance(everything, list)
    assert len(everything) == 12


def test_scan_inspection_commands(cli_env: dict[str, str], blocked_scan: str) -> None:
    scan = cli_json(cli_env, "scans", "get", blocked_scan)
    assert isinstance(scan, dict)
    assert scan["eval_outcome"] == "BLOCKED"
    violations = cli_json(cli_env, "scans", "violations", blocked_scan)
    assert isinstance(violations, list)
    assert "Load Time Code Execution Check" in [v["rule_name"] for v in violations]
    one = cli_json(cli_env, "scans", "violation", violations[0]["uuid"])
    assert isinstance(one, dict)
    assert one["uuid"] == violations[0]["uuid"]
    evaluations = cli_json(cli_env, "scans", "evaluations", blocked_scan, "--result", "FAILED")
    assert isinstance(evaluations, list)
    assert all(e["result"] == "FAILED" for e in evaluations)
    files = cli_json(cli_env, "scans", "files", blocked_scan)
    assert isinstance(files, list)
    listed = cli_json(cli_env, "scans", "list", "--outcome", "BLOCKED", "--limit", "1")
    assert isinstance(listed, list)
    assert len(listed) == 1


def test_labels_round_trip(cli_env: dict[str, str], blocked_scan: str) -> None:
    r = run_cli(
        "scans", "labels", "add", blocked_scan, "-l", "team=ml", "-l", "env=ci", env=cli_env
    )
    assert r.code == 0, r.err
    keys = cli_json(cli_env, "scans", "label-keys")
    assert isinstance(keys, list)
    assert {"team", "env"} <= set(keys)
    values = cli_json(cli_env, "scans", "label-values", "team")
    assert values == ["ml"]
    r = run_cli("scans", "labels", "set", blocked_scan, "-l", "team=sec", env=cli_env)
    assert r.code == 0, r.err
    r = run_cli("scans", "labels", "delete", blocked_scan, "team", env=cli_env)
    assert r.code == 0, r.err
    scan = cli_json(cli_env, "scans", "get", blocked_scan)
    assert isinstance(scan, dict)
    assert "team" not in [lb["key"] for lb in scan["labels"]]


def test_group_lifecycle_and_set_rule(cli_env: dict[str, str]) -> None:
    group = cli_json(
        cli_env,
        "groups",
        "create",
        "--name",
        "CLI test group",
        "--source-type",
        "LOCAL",
        "--rule",
        "Stored In Approved File Format=ALLOWING",
        "--wait",
    )
    assert isinstance(group, dict)
    uuid = group["uuid"]
    rules = cli_json(cli_env, "groups", "rules", uuid)
    assert isinstance(rules, list)
    fmt = [ri for ri in rules if ri["rule"]["name"] == "Stored In Approved File Format"]
    assert fmt
    assert fmt[0]["state"] == "ALLOWING"
    updated = cli_json(
        cli_env,
        "groups",
        "set-rule",
        uuid,
        "Stored In Approved File Format",
        "--state",
        "BLOCKING",
        "--field",
        "approved_formats=safetensors,json",
    )
    assert isinstance(updated, dict)
    assert updated["state"] == "BLOCKING"
    assert updated["field_values"]["approved_formats"] == ["safetensors", "json"]
    renamed = cli_json(cli_env, "groups", "update", uuid, "--name", "CLI test group 2")
    assert isinstance(renamed, dict)
    assert renamed["name"] == "CLI test group 2"
    r = run_cli("groups", "delete", uuid, env=cli_env)
    assert r.code == 0, r.err


def test_custom_rules_commands(cli_env: dict[str, str]) -> None:
    cond = json.dumps({"type": "label", "key": "reviewed", "operator": "not_exists"})
    rule = cli_json(
        cli_env,
        "custom-rules",
        "create",
        "--name",
        "Reviewed",
        "--condition",
        cond,
        "--message",
        "Model has not been reviewed",
    )
    assert isinstance(rule, dict)
    assert rule["name"] == "Reviewed"
    listed = cli_json(cli_env, "custom-rules", "list")
    assert isinstance(listed, list)
    assert rule["uuid"] in [x["uuid"] for x in listed]
    groups = cli_json(cli_env, "groups", "list", "--source-type", "LOCAL")
    assert isinstance(groups, list)
    gid = groups[0]["uuid"]
    r = run_cli("custom-rules", "assign", rule["uuid"], f"{gid}=ALLOWING", env=cli_env)
    assert r.code == 0, r.err
    assigned = cli_json(cli_env, "custom-rules", "groups", rule["uuid"])
    assert isinstance(assigned, list)
    assert gid in [a["uuid"] for a in assigned]
    r = run_cli("custom-rules", "unassign", rule["uuid"], gid, env=cli_env)
    assert r.code == 0, r.err


def test_pypi_auth_redacted_unless_asked(cli_env: dict[str, str], emulator: EmulatorThread) -> None:
    r = run_cli("pypi-auth", env=cli_env)
    assert r.code == 0, r.err
    shown = run_cli("pypi-auth", "--show-secret", env=cli_env)
    assert shown.code == 0, shown.err
    assert "***" in r.out
    assert r.out != shown.out
    assert "***" not in shown.out


def test_not_found_is_one_line(cli_env: dict[str, str]) -> None:
    r = run_cli("scans", "get", "00000000-0000-4000-8000-000000000000", env=cli_env)
    assert r.code == 2
    assert r.err.count("\n") == 1
    assert r.err.startswith("modelsec: error:")


def test_demo_exits_0_offline() -> None:
    r = run_cli("demo", env=base_env())
    assert r.code == 0, r.err
    assert "ALLOWED" in r.out
    assert "BLOCKED" in r.out
    assert "Load Time Code Execution Check" in r.out
    assert "demo passed" in r.out


def test_demo_json() -> None:
    r = run_cli("demo", "--format", "json", env=base_env())
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [x["outcome"] for x in doc["results"]] == ["ALLOWED", "BLOCKED"]


def test_unreachable_service_is_one_line_and_exit_2() -> None:
    import socket

    from tests.cli.conftest import run_cli

    with socket.socket() as s:  # a loopback port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    result = run_cli(
        "scans",
        "list",
        "--client-id",
        "c",
        "--client-secret",
        "s",
        "--tsg-id",
        "1",
        "--data-endpoint",
        f"{base}/aims/data",
        "--mgmt-endpoint",
        f"{base}/aims/mgmt",
        "--token-endpoint",
        f"{base}/oauth2/access_token",
        "--max-retries",
        "0",
    )
    assert result.code == 2
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("modelsec: error:")
    assert (
        "unreachable" in lines[0]
        or "APIConnectionError" in lines[0]
        or "connect" in lines[0].lower()
    )
    assert "Traceback" not in result.err
