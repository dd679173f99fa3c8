"""CLI conventions (issue 14 point 9, issue 13 abbreviations): every parser of the tree, the
SARIF command line redacted by value, group names, CLI words in credential errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsec.cli import build_parser, main
from modelsec.cli.app import _subparsers
from modelsec.emulator import EmulatorThread
from tests.cli.conftest import base_env, run_cli

ROOT = Path(__file__).resolve().parents[2]


def all_parsers() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    def walk(
        p: argparse.ArgumentParser, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        yield path, p
        for name, child in _subparsers(p):
            yield from walk(child, (*path, name))

    yield from walk(build_parser(), ())


PATHS = [path for path, _ in all_parsers()]


def test_the_tree_is_big_enough_to_mean_something() -> None:
    assert len(PATHS) > 40
    assert ("emulator",) in PATHS and ("completion",) in PATHS


# ------------------------------------------------------------------------- abbreviations


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "top")
def test_no_parser_accepts_abbreviations(path: tuple[str, ...]) -> None:
    parser = dict(all_parsers())[path]
    assert parser.allow_abbrev is False


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--offline", "./m", "--client-secre", "s3cret"],
        ["scans", "list", "--client-secre", "s3cret"],
        ["--client-secre", "s3cret", "groups", "list"],
        ["scan", "--offline", "./m", "--form", "json"],
        ["emulator", "--po", "99999"],
    ],
)
def test_abbreviated_options_are_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err or "invalid choice" in err
    assert len(err.strip().splitlines()) == 1
    assert "s3cret" not in err  # argparse quotes the bad word: never a secret


def test_usage_errors_never_echo_a_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PANW_MODEL_SEC_CLIENT_SECRET", "from-env-secret")
    assert main(["scans", "list", "--outcome", "from-env-secret"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: '***'" in err and "from-env-secret" not in err


def test_sarif_command_line_redacts_secrets_by_value(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    env = base_env()
    env["PANW_MODEL_SEC_CLIENT_SECRET"] = "env-secret-value-42"
    r = run_cli(
        "scan",
        "--offline",
        str(model),
        "--client-secret=flag-secret-value-17",
        "-l",
        "copy=flag-secret-value-17",
        "-l",
        "also=env-secret-value-42",
        "--format",
        "sarif",
        env=env,
    )
    assert r.code in (0, 1, 2), r.err
    sarif = json.loads(r.out)
    line = sarif["runs"][0]["invocations"][0]["commandLine"]
    assert "--client-secret=***" in line
    assert "copy=***" in line and "also=***" in line
    assert "secret-value" not in r.out


def test_redaction_covers_the_spaced_spelling_too() -> None:
    from modelsec.cli.common import redact_argv

    argv = ["scan", "--client-secret", "abc", "x", "--label", "k=abc"]
    assert redact_argv(argv, ["abc"]) == ["scan", "--client-secret", "***", "x", "--label", "k=***"]


# ------------------------------------------------------------------------- --version, help


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "top")
def test_version_everywhere(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    from modelsec import __version__

    assert main([*path, "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"modelsec {__version__}"


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: 8765)" in out
    assert "(default: modelsec-demo)" in out
    assert main(["scan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: 600.0)" in out and "(default: 8)" in out
    assert "(default: None)" not in out and "(default: False)" not in out


def test_help_names_the_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["groups", "list", "--help"]) == 0
    out = capsys.readouterr().out
    assert "PANW_MODEL_SEC_CLIENT_SECRET" in out and "PANW_MODEL_SEC_TOKEN_ENDPOINT" in out


# ------------------------------------------------------------------------- choices, flags


def test_choices_ignore_case() -> None:
    parser = build_parser()
    args = parser.parse_args(["scans", "list", "--outcome", "blocked", "--format", "JSON"])
    assert args.outcome == ["BLOCKED"] and args.format == "json"
    args = parser.parse_args(["groups", "create", "--name", "g", "--source-type", "hugging_face"])
    assert args.source_type == "HUGGING_FACE"
    args = parser.parse_args(["completion", "BASH"])
    assert args.shell == "bash"


def test_bad_choice_is_still_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scans", "list", "--outcome", "maybe"]) == 2
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "-q", "--client-id", "cid", "--tsg-id", "7", "scans", "list"],
        ["scans", "list", "-v", "-q", "--client-id", "cid", "--tsg-id", "7"],
        ["-v", "scans", "-q", "--client-id", "cid", "list", "--tsg-id", "7"],
    ],
)
def test_global_flags_before_or_after_the_command(argv: list[str]) -> None:
    from modelsec.cli.app import _merge_globals

    args = build_parser().parse_args(argv)
    _merge_globals(args)
    assert (args.verbose, args.quiet, args.client_id, args.tsg_id) == (1, True, "cid", "7")


def test_verbosity_adds_up_across_the_command() -> None:
    from modelsec.cli.app import _merge_globals

    args = build_parser().parse_args(["-v", "groups", "list", "-v"])
    _merge_globals(args)
    assert args.verbose == 2


def test_quiet_before_scan_reaches_scan() -> None:
    from modelsec.cli.app import _merge_globals

    args = build_parser().parse_args(["-q", "scan", "--offline", "./m"])
    _merge_globals(args)
    assert args.quiet is True


def test_python_dash_m_modelsec() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelsec", "--version"],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("modelsec ")


# ------------------------------------------------------------------------- credentials


def test_missing_credentials_in_cli_words() -> None:
    r = run_cli("groups", "list")
    assert r.code == 2
    assert r.err.strip() == (
        "modelsec: error: no client id given: pass --client-id or set "
        "PANW_MODEL_SEC_CLIENT_ID (or PANW_MGMT_CLIENT_ID, MODEL_SECURITY_CLIENT_ID)"
    )
    r = run_cli("groups", "list", "--client-id", "x", "--client-secret", "y")
    assert "pass --tsg-id or set PANW_MODEL_SEC_TSG_ID" in r.err
    assert "tsg_id=" not in r.err


# ------------------------------------------------------------------------- group names


def test_group_names_wherever_a_uuid_is(cli_env: dict[str, str]) -> None:
    r = run_cli("groups", "get", "Default LOCAL", "--format", "json", env=cli_env)
    assert r.code == 0, r.err
    uuid = json.loads(r.out)["uuid"]
    r = run_cli("groups", "get", "default local", "--format", "json", env=cli_env)
    assert r.code == 0, r.err
    assert json.loads(r.out)["uuid"] == uuid
    r = run_cli("groups", "rules", "Default LOCAL", "--limit", "1", "-f", "json", env=cli_env)
    assert r.code == 0, r.err
    r = run_cli("scans", "list", "--group", "Default LOCAL", "--format", "json", env=cli_env)
    assert r.code == 0, r.err
    assert json.loads(r.out) == []


def test_unknown_and_ambiguous_group_names(
    cli_env: dict[str, str], emulator: EmulatorThread
) -> None:
    r = run_cli("groups", "get", "No Such Group", env=cli_env)
    assert r.code == 2
    assert "no security group named 'No Such Group'" in r.err
    for name in ("Team Ambiguous", "TEAM AMBIGUOUS"):
        r = run_cli("groups", "create", "--name", name, "--source-type", "local", env=cli_env)
        assert r.code == 0, r.err
    r = run_cli("groups", "get", "team ambiguous", env=cli_env)
    assert r.code == 2
    assert "2 security groups are named 'team ambiguous'" in r.err
    r = run_cli("groups", "get", "", env=cli_env)
    assert r.code == 2
    assert "empty security group" in r.err


def test_refused_credentials_point_at_the_flags(cli_env: dict[str, str]) -> None:
    r = run_cli("groups", "list", "--client-secret", "wrong-secret", env=cli_env)
    assert r.code == 2
    assert "(check --client-id and --client-secret / PANW_MODEL_SEC_CLIENT_ID" in r.err
    assert "wrong-secret" not in r.err
    r = run_cli("groups", "list", "--tsg-id", "999", env=cli_env)
    assert r.code == 2
    assert "(check --tsg-id / PANW_MODEL_SEC_TSG_ID)" in r.err


def test_bad_endpoint_named_as_its_flag(cli_env: dict[str, str]) -> None:
    r = run_cli("groups", "list", "--data-endpoint", "ftp://x", env=cli_env)
    assert r.code == 2
    assert r.err.startswith("modelsec: error: --data-endpoint must be an http(s) URL")


def test_connection_flags_before_emulator_set_what_it_accepts() -> None:
    args = build_parser().parse_args(["--client-id", "team-ci", "emulator", "--port", "0"])
    assert args.client_id == "team-ci"
    args = build_parser().parse_args(["emulator"])
    assert not hasattr(args, "client_id")  # the emulator's own default applies
