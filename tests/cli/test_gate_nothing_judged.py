"""Nothing judged is never a pass; empty flags are errors (issue 14, points 1 and 2).

The CLI runs as a subprocess through its real entry point, online against an emulator and
offline; the SDK's ``ScanResult.nothing_judged`` is checked against the same emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.cli.demo import write_benign_model
from modelsec.emulator import EmulatorThread
from tests.cli.conftest import base_env, run_cli

FAST = ("--poll-interval", "0.05")


def _targets(root: Path) -> dict[str, Path]:
    """Targets in which the scanner judges no file (each comes back SKIPPED or is empty)."""
    empty = root / "empty"
    empty.mkdir()
    readme_dir = root / "readme-only"
    readme_dir.mkdir()
    (readme_dir / "readme.txt").write_text("the weights are elsewhere\n")
    config = root / "config-only"
    config.mkdir()
    (config / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}')
    lone = root / "notes.txt"
    lone.write_text("not a model\n")
    # 64 KiB of bytes that are no pickle, under a pickle name: pickle.load would fail on them.
    rand = root / "random.pkl"
    rand.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(1 << 16)))
    xgb = root / "xgboost-model.json"
    xgb.write_text(
        json.dumps({"learner": {"gradient_booster": {"name": "gbtree"}}, "version": [2, 0, 3]})
    )
    lgbm = root / "lightgbm-model.txt"
    lgbm.write_text("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n")
    return {
        "empty dir": empty,
        "readme only": readme_dir,
        "config.json only": config,
        "single text file": lone,
        "random .pkl": rand,
        "xgboost .json": xgb,
        "lightgbm .txt": lgbm,
    }


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _targets(tmp_path_factory.mktemp("nothing"))


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_benign_model(tmp_path_factory.mktemp("ok") / "benign")


@pytest.fixture(scope="module")
def gate_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    """An emulator whose hub holds an HF repo with a model card and no model file."""
    hub = tmp_path_factory.mktemp("hub")
    card = hub / "huggingface" / "some-org" / "card-only"
    card.mkdir(parents=True)
    (card / "README.md").write_text("---\nlicense: mit\n---\n# no weights here\n")
    (card.parent / ".verified").touch()  # a verified organization: only the files can fail
    real = write_benign_model(hub / "huggingface" / "some-org" / "real-model")
    (real / "README.md").write_text("---\nlicense: mit\n---\n# a tiny model\n")
    with EmulatorThread(port=0, settle_delay=0.05, activation_delay=0.0, hub=hub) as emu:
        yield emu


@pytest.fixture(scope="module")
def env(gate_emulator: EmulatorThread) -> dict[str, str]:
    kw = gate_emulator.client_kwargs()
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


KINDS = [
    "empty dir",
    "readme only",
    "config.json only",
    "single text file",
    "random .pkl",
    "xgboost .json",
    "lightgbm .txt",
]


@pytest.mark.parametrize("kind", KINDS)
def test_offline_nothing_judged_is_an_error(kind: str, targets: dict[str, Path]) -> None:
    r = run_cli("scan", "--offline", str(targets[kind]))
    assert r.code == 2, (r.out, r.err)
    first = r.out.splitlines()[0]
    assert first.startswith("ERROR") and str(targets[kind]) in first
    assert "NOTHING_SCANNED" in r.out and "--allow-empty" in r.out
    assert "1 model: 1 error" in r.out
    assert "Traceback" not in r.err
    allowed = run_cli("scan", "--offline", "--allow-empty", str(targets[kind]))
    assert allowed.code == 0, (allowed.out, allowed.err)
    assert allowed.out.startswith("ALLOWED")


def test_offline_json_and_sarif_say_why(targets: dict[str, Path], benign: Path) -> None:
    r = run_cli("scan", "--offline", str(benign), str(targets["empty dir"]), "-f", "json")
    assert r.code == 2, r.err
    doc = json.loads(r.out)
    assert doc["exit_code"] == 2 and doc["outcome"] == "ERROR"
    good, empty = doc["results"]
    assert good["outcome"] == "ALLOWED" and good["files_scanned"] >= 1
    assert empty["outcome"] == "ERROR"
    assert empty["error"]["code"] == "NOTHING_SCANNED"
    assert empty["files_scanned"] == 0
    # the report is on stdout, so one line on stderr says it to the person reading the log
    assert r.err.count("\n") == 1 and "NOTHING_SCANNED" not in r.err
    assert "nothing judged" in r.err and str(targets["empty dir"]) in r.err
    r = run_cli("scan", "--offline", str(targets["readme only"]), "-f", "sarif")
    assert r.code == 2
    inv = json.loads(r.out)["runs"][0]["invocations"][0]
    assert inv["exitCode"] == 2 and inv["executionSuccessful"] is False
    assert "NOTHING_SCANNED" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_nothing_judged_stays_2_with_block_on_errors(targets: dict[str, Path]) -> None:
    r = run_cli("scan", "--offline", "--block-on-errors", str(targets["config.json only"]))
    assert r.code == 2, r.out


def test_a_real_benign_model_still_passes_offline(benign: Path) -> None:
    r = run_cli("scan", "--offline", str(benign))
    assert r.code == 0, (r.out, r.err)


@pytest.mark.parametrize("kind", ["empty dir", "config.json only", "random .pkl"])
def test_online_local_nothing_judged_is_an_error(
    kind: str, targets: dict[str, Path], env: dict[str, str]
) -> None:
    # The service (here the emulator) ALLOWs a LOCAL scan whose scan_details judged nothing;
    # the CLI must not pass it.
    r = run_cli("scan", *FAST, str(targets[kind]), "-f", "json", env=env)
    assert r.code == 2, (r.out, r.err)
    (res,) = json.loads(r.out)["results"]
    assert res["outcome"] == "ERROR" and res["error"]["code"] == "NOTHING_SCANNED"
    assert res["scan_uuid"]  # the scan exists on the service; its uuid is kept
    r = run_cli("scan", *FAST, "--allow-empty", str(targets[kind]), env=env)
    assert r.code == 0, (r.out, r.err)


def test_online_remote_without_model_files_is_an_error(env: dict[str, str]) -> None:
    r = run_cli("scan", *FAST, "hf://some-org/card-only", "hf://some-org/real-model", env=env)
    assert r.code == 2, (r.out, r.err)
    lines = r.out.splitlines()
    assert lines[0].startswith("ERROR") and "hf://some-org/card-only" in lines[0]
    assert "NOTHING_SCANNED" in lines[1]
    assert any(x.startswith("ALLOWED") and "real-model" in x for x in lines)


async def test_sdk_results_carry_nothing_judged(
    gate_emulator: EmulatorThread, targets: dict[str, Path], benign: Path
) -> None:
    async with AsyncModelSecurityClient(**gate_emulator.client_kwargs()) as client:
        page = await client.security_groups.list(search_query="Default LOCAL")
        group = next(g.uuid for g in page.security_groups if g.name == "Default LOCAL")
        empty = await client.scan(
            targets["config.json only"], security_group_uuid=group, poll_interval=0.02
        )
        assert empty.outcome == "ALLOWED"  # the service's verdict, unchanged
        assert empty.nothing_judged
        assert not empty.is_allowed  # but it is no pass
        good = await client.scan(benign, security_group_uuid=group, poll_interval=0.02)
        assert good.is_allowed and not good.nothing_judged
        many = {
            r.target: r
            async for r in client.scan_many(
                [str(targets["empty dir"]), str(benign)],
                security_group_uuid=group,
                poll_interval=0.02,
            )
        }
        assert many[str(targets["empty dir"])].nothing_judged
        assert not many[str(benign)].nothing_judged
        hf = next(
            g.uuid
            for g in (
                await client.security_groups.list(search_query="Default HUGGING")
            ).security_groups
            if g.name == "Default HUGGING_FACE"
        )
        remote = await client.scan(
            "hf://some-org/card-only", security_group_uuid=hf, poll_interval=0.02
        )
        assert remote.scan is not None and remote.scan.total_files_scanned == 0
        assert remote.nothing_judged and not remote.is_allowed


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--group", "", "./m"],
        ["scan", "--group", "  ", "./m"],
        ["scan", "--offline", "--policy", "", "./m"],
        ["scan", "--offline", "./m", "--output", ""],
        ["scan", "./m", "--api-endpoint", ""],
        ["scan", "./m", "--client-id", ""],
    ],
)
def test_empty_flag_is_an_error(argv: list[str], env: dict[str, str]) -> None:
    r = run_cli(*argv, env=env)
    assert r.code == 2
    assert r.err.count("\n") == 1 and "is empty" in r.err, r.err
    assert r.out == ""  # nothing scanned, nothing reported: no default group was used
