"""``modelsec demo``: the whole product in one offline command.

It starts the emulator in this process (on a free loopback port), writes two tiny models to a
temporary directory -- a benign one (``model.safetensors`` + ``config.json``) and a malicious
one (``model.pkl``, a pickle whose load would call ``os.system``, written opcode by opcode so
no live callable is ever pickled) -- then scans both through the SDK over HTTP exactly as a user
would against the real service, and prints each verdict with its violations.

Exit status 0 when the verdicts are the expected ones (benign ALLOWED, malicious BLOCKED),
1 otherwise. With ``--format json`` the document is the report of ``modelsec scan`` (one
model BLOCKED, as expected) whose ``exit_code`` is the demo's own exit status, plus
``"demo": {"passed": ..., "expected": ..., "got": ...}``.

Example:
    $ modelsec demo
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

from modelsec.cli.common import CLIError
from modelsec.cli.formats import ModelResult, Report, render, safe_text

__all__ = ["add_parser", "run", "write_benign_model", "write_malicious_model"]

EXPECTED = {"benign-model": "ALLOWED", "malicious-model": "BLOCKED"}


def write_benign_model(directory: Path) -> Path:
    """A 2x2 float32 tensor in ``model.safetensors`` plus a ``config.json``.

    Example:
        >>> import tempfile
        >>> d = write_benign_model(Path(tempfile.mkdtemp()) / "m")
        >>> sorted(p.name for p in d.iterdir())
        ['config.json', 'model.safetensors']
    """
    directory.mkdir(parents=True, exist_ok=True)
    data = struct.pack("<4f", 1.0, 0.0, 0.0, 1.0)
    header = json.dumps(
        {
            "__metadata__": {"format": "pt"},
            "weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, len(data)]},
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header to 8 bytes
    (directory / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    config = {"architectures": ["TinyLinear"], "model_type": "tiny", "hidden_size": 2}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory


def malicious_pickle(command: str = "echo pwned") -> bytes:
    """The bytes of a pickle that would run ``os.system(command)`` when loaded.

    Built opcode by opcode (never by pickling a live object); nothing here ever loads it.

    Example:
        >>> malicious_pickle()[:2], malicious_pickle()[-1:]
        (b'\\x80\\x02', b'.')
    """
    arg = command.encode()
    return b"".join(
        [
            b"\x80\x02",  # PROTO 2
            b"c" + b"os\n" + b"system\n",  # GLOBAL os.system: push the callable
            b"X" + struct.pack("<I", len(arg)) + arg,  # BINUNICODE: the shell command
            b"\x85",  # TUPLE1: (command,)
            b"R",  # REDUCE: os.system(command) -- this is what runs at load time
            b".",  # STOP
        ]
    )


def write_malicious_model(directory: Path) -> Path:
    """``model.pkl``: a pickle that calls ``os.system`` when unpickled.

    Example:
        >>> import tempfile
        >>> d = write_malicious_model(Path(tempfile.mkdtemp()) / "m")
        >>> (d / "model.pkl").read_bytes() == malicious_pickle()
        True
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.pkl").write_bytes(malicious_pickle())
    return directory


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the subparsers action ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="scan a benign and a malicious model against a local emulator (offline)",
        description="Start the emulator in process, write a benign model (safetensors + "
        "config) and a malicious one (a pickle that calls os.system) to a temporary "
        "directory, scan both through the SDK over HTTP and print the verdicts. Needs no "
        "network and no credentials. Exits 0 when the benign model is ALLOWED and the "
        "malicious one BLOCKED.",
    )
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="write the models to DIR and keep them (default: a temporary directory)",
    )
    p.add_argument(
        "-f", "--format", choices=("text", "json"), default="text", help="verdict format"
    )
    p.add_argument("--settle-delay", type=float, default=0.2, help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


async def _demo(root: Path, settle_delay: float, out: Any) -> Report:
    from modelsec.cli.commands.scan import from_scan_result, resolve_group
    from modelsec.client import AsyncModelSecurityClient
    from modelsec.emulator import Emulator

    benign = write_benign_model(root / "benign-model")
    malicious = write_malicious_model(root / "malicious-model")
    out.write(f"wrote {safe_text(benign)}/ (model.safetensors, config.json)\n")
    out.write(f"wrote {safe_text(malicious)}/ (model.pkl: a pickle that calls os.system on load)\n")
    report = Report(mode="online", results=[], command_line="modelsec demo")
    async with Emulator(port=0, settle_delay=settle_delay, activation_delay=0.0) as emu:
        out.write(f"emulator listening on {emu.base_url} (the service, on loopback)\n\n")
        # trust_env=False: a proxy from the environment must not capture loopback traffic.
        kw = emu.client_kwargs()
        async with AsyncModelSecurityClient(
            client_id=kw["client_id"],
            client_secret=kw["client_secret"],
            tsg_id=kw["tsg_id"],
            data_endpoint=kw["data_endpoint"],
            mgmt_endpoint=kw["mgmt_endpoint"],
            token_endpoint=kw["token_endpoint"],
            trust_env=False,
        ) as client:
            group = await resolve_group(client, "Default LOCAL", source_type="LOCAL")
            assert not isinstance(group, str)
            out.write(f"scanning both models with security group {safe_text(group.name)!r}...\n\n")
            slots: dict[str, ModelResult] = {}
            async for r in client.scan_many(
                [str(benign), str(malicious)],
                security_group_uuid=group.uuid,
                timeout=60,
                poll_interval=0.1,
                labels={"source": "modelsec-demo"},
            ):
                slots[r.target] = from_scan_result(r, group_name=group.name)
            report.results = [slots[str(benign)], slots[str(malicious)]]
    return report


def run(args: argparse.Namespace) -> int:
    """Run ``modelsec demo``; 0 when the verdicts are as expected."""
    out = sys.stderr if args.format == "json" else sys.stdout
    if args.dir:
        root = Path(args.dir)
        if root.exists() and not root.is_dir():
            raise CLIError(f"--dir {args.dir!r} is not a directory")
        report = asyncio.run(_demo(root, args.settle_delay, out))
    else:
        with tempfile.TemporaryDirectory(prefix="modelsec-demo-") as tmp:
            report = asyncio.run(_demo(Path(tmp), args.settle_delay, out))
    got = {Path(r.target).name: r.outcome for r in report.results}
    ok = got == EXPECTED
    if args.format == "json":
        # The demo passes when one model is BLOCKED: the document's exit code is the demo's.
        doc = report.to_dict()
        doc["exit_code"] = 0 if ok else 1
        doc["demo"] = {"passed": ok, "expected": dict(EXPECTED), "got": got}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        sys.stdout.write(render(report, args.format, colour=colour) + "\n")
    if ok:
        out.write(
            "\ndemo passed: the benign model is ALLOWED and the malicious one BLOCKED.\n"
            "Next: run 'modelsec emulator' in one shell and point 'modelsec scan PATH' at it\n"
            "(PANW_MODEL_SEC_* variables), or scan with no service: "
            "'modelsec scan --offline PATH'.\n"
        )
        return 0
    want = ", ".join(f"{k} {v}" for k, v in EXPECTED.items())
    have = ", ".join(f"{k} {v}" for k, v in got.items())
    sys.stderr.write(f"modelsec demo: unexpected verdicts: expected {want}; got {have}\n")
    return 1
