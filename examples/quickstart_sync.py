"""Quickstart with the blocking client: the guide's two walkthroughs, no ``async`` anywhere.

1. Define a security group (your scan policy): create it, list its rule instances, tighten a rule
   to BLOCKING.
2. Scan a model against it, poll until the outcome is no longer PENDING, and read the violations
   if it was BLOCKED.

Run it against the local emulator (nothing leaves the machine)::

    python examples/quickstart_sync.py --emulator

or against the service, with credentials in the environment (``PANW_MODEL_SEC_CLIENT_ID``,
``PANW_MODEL_SEC_CLIENT_SECRET``, ``PANW_MODEL_SEC_TSG_ID``)::

    python examples/quickstart_sync.py --model-uri hf://my-org/my-model
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelsec.sync import ModelSecurityClient


def walkthrough(client: ModelSecurityClient, model_uri: str, source_type: str) -> str:
    # -- Walkthrough: define a security group --------------------------------------------------
    group = client.security_groups.create(
        name=f"quickstart-strict-{int(time.time())}",
        source_type=source_type,
        description="Block unsafe models",
    )
    group = client.security_groups.wait_active(group.uuid)  # new groups start PENDING
    print(f"security group {group.name} ({group.uuid}) is {group.state}")

    # See which rules are active and how strict each is (iterating walks every page).
    instances = client.security_groups.list_rule_instances(group.uuid)
    for ri in instances:
        print(f"  {ri.rule.name}: {ri.state}")

    # Tighten a rule from warn-only to blocking.
    lenient = next((ri for ri in instances if ri.state != "BLOCKING"), None)
    if lenient is not None:
        ri = client.security_groups.update_rule_instance(group.uuid, lenient.uuid, state="BLOCKING")
        print(f"tightened {ri.rule.name} -> {ri.state}")
    else:
        print("every rule is already BLOCKING")

    # -- Walkthrough: scan a model and read the result -----------------------------------------
    scan = client.scans.create(model_uri=model_uri, security_group_uuid=group.uuid)
    print(f"scan {scan.uuid} created: {scan.eval_outcome}")

    # Scans run asynchronously: poll until the outcome is no longer PENDING.
    # (client.scans.wait(scan.uuid) does this with backoff and a timeout.)
    result = client.scans.get(scan.uuid)
    while result.eval_outcome == "PENDING":
        time.sleep(0.5)
        result = client.scans.get(scan.uuid)
    print(f"outcome: {result.eval_outcome}")

    # If it was blocked, drill into the violations to see why.
    if result.eval_outcome == "BLOCKED":
        for v in client.scans.get_violations(scan.uuid, limit=20):
            print(f"  {v.rule_name}: {v.description}")
    return str(result.eval_outcome)


@contextlib.contextmanager
def emulated() -> Iterator[tuple[dict[str, Any], str]]:
    """The local emulator, with one model in its hub: a pickle that would run a command."""
    from modelsec.emulator import EmulatorThread

    class _Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            import os

            return (os.system, ("echo pwned",))

    with tempfile.TemporaryDirectory() as hub:
        model = Path(hub, "huggingface", "my-org", "my-model")
        model.mkdir(parents=True)
        # Only written, never loaded: the scanner reads the opcodes.
        (model / "model.pkl").write_bytes(pickle.dumps(_Payload()))
        (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n# my-model\n")
        with EmulatorThread(port=0, settle_delay=0.2, activation_delay=0.2, hub=hub) as emu:
            yield emu.client_kwargs(), "hf://my-org/my-model"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--emulator", action="store_true", help="run against a local emulator")
    parser.add_argument("--model-uri", default="hf://my-org/my-model")
    parser.add_argument("--source-type", default="HUGGING_FACE")
    args = parser.parse_args(argv)

    if args.emulator:
        with emulated() as (kwargs, model_uri), ModelSecurityClient(**kwargs) as client:
            walkthrough(client, model_uri, args.source_type)
    else:
        with ModelSecurityClient() as client:  # credentials from the environment
            walkthrough(client, args.model_uri, args.source_type)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
