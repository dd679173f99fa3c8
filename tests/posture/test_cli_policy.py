"""``modelsec policy ...`` through the real entry point, and offline == online verdicts."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelsec.cli.commands.policy import STARTER_DATA, STARTER_YAML
from modelsec.cli.demo import write_benign_model, write_malicious_model
from modelsec.emulator import EmulatorThread
from modelsec.policy.document import SCHEMA_PATH, load_document, policy_schema
from tests.cli.conftest import base_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "policy.yaml"
_tenants = itertools.count()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    hub = tmp_path_factory.mktemp("hub")
    with EmulatorThread(port=0, settle_delay=0.02, activation_delay=0.0, hub=hub) as emu:
        yield emu


@pytest.fixture
def env(emulator: EmulatorThread) -> dict[str, str]:
    """The CLI's environment for a tenant of its own (empty but for the Default groups)."""
    n = next(_tenants)
    cid, secret, tsg = f"cli-{n}", f"cli-secret-{n}", f"tsg-cli-{n}"
    emulator.add_tenant(cid, secret, tsg)
    kw = emulator.client_kwargs(client_id=cid, client_secret=secret)
    e = base_env()
    e.update(
        {
            "PANW_MODEL_SEC_CLIENT_ID": kw["client_id"],
            "PANW_MODEL_SEC_CLIENT_SECRET": kw["client_secret"],
            "PANW_MODEL_SEC_TSG_ID": kw["tsg_id"],
            "PANW_MODEL_SEC_DATA_ENDPOINT": kw["data_endpoint"],
            "PANW_MODEL_SEC_MGMT_ENDPOINT": kw["mgmt_endpoint"],
            "PANW_MODEL_SEC_TOKEN_ENDPOINT": kw["token_endpoint"],
        }
    )
    return e


# ---------------------------------------------------------------------------------- offline


def test_starter_schema_and_example_agree() -> None:
    import jsonschema

    assert yaml.safe_load(STARTER_YAML) == STARTER_DATA
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    example = yaml.safe_load(EXAMPLE.read_text())
    for doc in (STARTER_DATA, example, load_document(EXAMPLE).to_dict()):
        assert list(v.iter_errors(doc)) == []
    # the original --policy format is part of the new one
    legacy = {
        "version": 1,
        "rules": {"Load Time Code Execution Check": "ALLOWING"},
        "approved_formats": ["pickle"],
        "custom_rules": [
            {"name": "r", "condition": {"type": "label", "key": "k", "operator": "exists"}}
        ],
    }
    assert list(v.iter_errors(legacy)) == []
    for bad in (
        {"nope": 1},
        {"security_groups": {"g": {"source_type": "MARS"}}},
        {"security_groups": {"g": {"source_type": "LOCAL", "rules": {"License Exists": "MAYBE"}}}},
        {"custom_rules": [{"name": "x"}]},
        {
            "custom_rules": [
                {"name": "x", "condition": {"type": "label", "key": "k", "operator": "is"}}
            ]
        },
    ):
        assert list(v.iter_errors(bad)), bad
    check = subprocess.run(
        [sys.executable, "scripts/gen_policy_schema.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_init_check_schema(tmp_path: Path) -> None:
    target = tmp_path / "policy.yaml"
    r = run_cli("policy", "init", str(target))
    assert r.code == 0, r.err
    assert target.read_text() == STARTER_YAML
    assert run_cli("policy", "init", str(target)).code == 2  # never overwrites silently
    r = run_cli("policy", "check", str(target))
    assert (
        r.code == 0
        and "valid (2 security groups: ml-local, ml-huggingface; 1 custom rules)" in r.out
    )
    as_json = tmp_path / "policy.json"
    assert run_cli("policy", "init", str(as_json)).code == 0
    assert json.loads(as_json.read_text()) == {"version": 1, **STARTER_DATA}
    assert run_cli("policy", "check", str(as_json)).code == 0
    r = run_cli("policy", "schema")
    assert r.code == 0 and json.loads(r.out) == json.loads(Path(SCHEMA_PATH).read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text("security_groups:\n  g:\n    source_type: LOCAL\n    rules: {Nope: BLOCKING}\n")
    r = run_cli("policy", "check", str(bad))
    assert r.code == 2
    assert r.err.strip() == (
        f"modelsec: error: policy {bad}: security_groups.g.unknown rule 'Nope'"
    )


def test_yaml_without_pyyaml_names_the_extra(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "yaml").mkdir(parents=True)
    (fake / "yaml" / "__init__.py").write_text("raise ImportError('no yaml')\n")
    env = base_env()
    env["PYTHONPATH"] = os.pathsep.join([str(fake), str(ROOT)])
    r = run_cli("policy", "check", str(EXAMPLE), env=env)
    assert r.code == 2
    assert r.err.strip().endswith(
        "YAML policy files need PyYAML: pip install 'modelsec[yaml]' (or use JSON)"
    )
    assert len(r.err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------- tenant


def test_plan_apply_export_cycle(env: dict[str, str], tmp_path: Path) -> None:
    r = run_cli("policy", "plan", str(EXAMPLE), env=env)
    assert r.code == 1, r.err
    assert "+ create group 'ml-local'" in r.out
    assert "+ create custom rule 'ml-unsafe-but-reviewed'" in r.out
    r = run_cli("policy", "apply", str(EXAMPLE), "--dry-run", env=env)
    assert r.code == 0 and "Dry run: nothing was changed" in r.out
    assert run_cli("policy", "plan", str(EXAMPLE), env=env).code == 1
    # not a terminal: apply applies
    r = run_cli("policy", "apply", str(EXAMPLE), env=env)
    assert r.code == 0, r.out + r.err
    assert "[applied]" in r.out and "0 failed, 0 skipped" in r.out
    r = run_cli("policy", "plan", str(EXAMPLE), env=env)
    assert r.code == 0 and "No changes" in r.out
    r = run_cli("policy", "apply", str(EXAMPLE), "--yes", env=env)
    assert r.code == 0 and "Nothing to do" in r.out
    r = run_cli("policy", "plan", str(EXAMPLE), "--format", "json", env=env)
    assert json.loads(r.out)["has_changes"] is False

    exported = tmp_path / "tenant.yaml"
    r = run_cli("policy", "export", "-o", str(exported), env=env)
    assert r.code == 0, r.err
    assert run_cli("policy", "plan", str(exported), env=env).code == 0
    doc = yaml.safe_load(exported.read_text())
    assert doc["security_groups"]["ml-s3"]["rules"]["Stored In Approved Location"] == {
        "state": "BLOCKING",
        "field_values": {"approved_locations": ["s3://ml-models-prod/"]},
    }
    [chained] = [c for c in doc["custom_rules"] if c["name"] == "ml-unsafe-but-reviewed"]
    assert chained["condition"]["conditions"][1] == {
        "type": "rule_result",
        "operator": "equals",
        "value": "PASSED",
        "rule": "ml-reviewed",
    }
    # drift: plan shows the field-level difference and exits 1
    exported.write_text(exported.read_text().replace("s3://ml-models-prod/", "s3://elsewhere/"))
    r = run_cli("policy", "plan", str(exported), env=env)
    assert r.code == 1
    assert "~ update rule 'Stored In Approved Location' in group 'ml-s3'" in r.out
    assert "approved_locations: +s3://elsewhere/ -s3://ml-models-prod/" in r.out


def _verdicts(report: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [
        (
            r["outcome"],
            r["security_group_name"],
            sorted({(v["rule_name"], v["rule_instance_state"]) for v in r["violations"]}),
        )
        for r in report["results"]
    ]


def test_offline_and_tenant_agree(env: dict[str, str], tmp_path: Path) -> None:
    """One file: applied to the tenant, and judging offline: the same verdicts."""
    models = [
        write_benign_model(tmp_path / "benign"),
        write_malicious_model(tmp_path / "malicious"),
    ]
    assert run_cli("policy", "apply", str(EXAMPLE), "--yes", env=env).code == 0
    seen = set()
    for labels in ([], ["-l", "reviewed=yes"]):
        args = [*map(str, models), "--group", "ml-local", *labels, "-f", "json", "-q"]
        online = run_cli("scan", *args, env=env)
        offline = run_cli("scan", "--offline", "--policy", str(EXAMPLE), *args, env=env)
        assert online.code == offline.code, (online.err, offline.err)
        on, off = json.loads(online.out), json.loads(offline.out)
        assert on["mode"] == "online" and off["mode"] == "offline"
        assert _verdicts(on) == _verdicts(off)
        seen.add(json.dumps(_verdicts(off)))
    verdicts = [json.loads(s) for s in seen]
    # the cases differ: unreviewed benign is BLOCKED by the custom rule, reviewed is ALLOWED,
    # and the reviewed malicious model fails the chained ALLOWING rule as well
    outcomes = sorted(tuple(v[0] for v in vs) for vs in verdicts)
    assert outcomes == [("ALLOWED", "BLOCKED"), ("BLOCKED", "BLOCKED")]
    reviewed = next(vs for vs in verdicts if vs[0][0] == "ALLOWED")
    assert ["ml-unsafe-but-reviewed", "ALLOWING"] in reviewed[1][2]
    # without --group the offline policy is the file's base layer: not the tenant's group
    r = run_cli(
        "scan", "--offline", "--policy", str(EXAMPLE), str(models[0]), "-f", "json", env=env
    )
    assert json.loads(r.out)["results"][0]["outcome"] == "ALLOWED"
    r = run_cli("scan", "--offline", "--policy", str(EXAMPLE), "--group", "nope", str(models[0]))
    assert r.code == 2 and "has no security group 'nope'" in r.err


def test_apply_on_a_terminal_is_a_dry_run_without_yes(env: dict[str, str]) -> None:
    import pty

    def on_tty(*args: str) -> tuple[int, str]:
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelsec.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")

    code, out = on_tty("policy", "apply", str(EXAMPLE))
    assert code == 0 and "Pass --yes to apply" in out
    assert run_cli("policy", "plan", str(EXAMPLE), env=env).code == 1  # nothing was applied
    code, out = on_tty("policy", "apply", str(EXAMPLE), "--yes")
    assert code == 0 and "0 failed, 0 skipped" in out
    assert run_cli("policy", "plan", str(EXAMPLE), env=env).code == 0


def test_gitops_workflow_example() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "policy-gitops.yml").read_text())
    on = doc[True]  # YAML 1.1 reads the key 'on' as a boolean
    assert set(on) >= {"pull_request", "push", "schedule"}
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert "push" in apply["if"] and "refs/heads/main" in apply["if"]
    assert plan["if"] == "github.event_name != 'push'"
    plan_runs = " ".join(s.get("run", "") for s in plan["steps"])
    apply_runs = " ".join(s.get("run", "") for s in apply["steps"])
    assert 'modelsec policy check "$POLICY"' in plan_runs
    assert 'modelsec policy plan "$POLICY" --prune' in plan_runs
    assert 'modelsec policy apply "$POLICY" --prune --yes' in apply_runs
    # never installs a package name nobody here owns
    installs = [
        s["run"] for s in plan["steps"] + apply["steps"] if "pip install" in s.get("run", "")
    ]
    assert installs and all("vars.MODELSEC_PIP_SPEC" in i for i in installs)
