"""The user guide's two walkthroughs with the async client.

1. Scan a model against a security group, wait for the verdict, read the violations.
2. Define a security group (the scan policy), list its rules, tighten one to BLOCKING.

Run against the real service (credentials from PANW_MODEL_SEC_* / PANW_MGMT_*):

    python examples/quickstart_async.py hf://my-org/my-model --group <security-group-uuid>

or fully offline against the local emulator, with a model written to a temporary hub:

    python examples/quickstart_async.py --emulator
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from modelsec import AsyncModelSecurityClient
from modelsec.cli.demo import write_benign_model
from modelsec.types import EvalOutcome, RuleState


async def scan_walkthrough(
    client: AsyncModelSecurityClient, model_uri: str, group_uuid: str
) -> None:
    # 1. Kick off a scan. A scan always targets one security group.
    scan = await client.scans.create(
        model_uri=model_uri, security_group_uuid=group_uuid, scan_origin="MODEL_SECURITY_SDK"
    )
    print(f"created scan {scan.uuid}: {scan.eval_outcome}")
    # 2. Scans run asynchronously: wait until the outcome is no longer PENDING.
    scan = await client.scans.wait(scan.uuid, timeout=600)
    print(f"verdict: {scan.eval_outcome}")
    # 3. If it was blocked, drill into the violations to see why.
    if scan.eval_outcome == EvalOutcome.BLOCKED:
        async for v in client.scans.get_violations(scan.uuid, limit=20):
            print(f"  {v.rule_name}: {v.description}")


async def group_walkthrough(client: AsyncModelSecurityClient) -> None:
    # 1. Create a group for a given source type (it is PENDING until active).
    group = await client.security_groups.create(
        name="hf-strict-example",
        source_type="HUGGING_FACE",
        description="Block unsafe Hugging Face models",
    )
    group = await client.security_groups.wait_active(group.uuid)
    # 2. See which rules are active and how strict each is.
    instances = [ri async for ri in client.security_groups.list_rule_instances(group.uuid)]
    for ri in instances:
        print(f"  {ri.rule.name}: {ri.state}")
    # 3. Tighten a rule from warn-only (or off) to blocking.
    target = next((ri for ri in instances if ri.state != RuleState.BLOCKING), instances[0])
    updated = await client.security_groups.update_rule_instance(
        group.uuid, target.uuid, state="BLOCKING"
    )
    print(f"tightened {updated.rule.name} -> {updated.state}")


def write_hub(hub: Path) -> None:
    """One small benign model of a verified organization, as the emulator's hub expects."""
    model = hub / "huggingface" / "my-org" / "my-model"
    write_benign_model(model)  # safetensors + config.json: something to judge
    (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    (model.parent / ".verified").write_text("")


@contextlib.asynccontextmanager
async def emulated() -> AsyncIterator[dict[str, Any]]:
    """A running emulator whose hub holds one small benign Hugging Face model."""
    from modelsec.emulator import Emulator

    with tempfile.TemporaryDirectory() as tmp:
        write_hub(Path(tmp))
        async with Emulator(port=0, settle_delay=0.2, activation_delay=0.2, hub=tmp) as emu:
            yield emu.client_kwargs()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_uri", nargs="?", default="hf://my-org/my-model")
    parser.add_argument("--group", help="security group uuid (default: 'Default HUGGING_FACE')")
    parser.add_argument("--emulator", action="store_true", help="run against a local emulator")
    args = parser.parse_args()

    async with contextlib.AsyncExitStack() as stack:
        kwargs: dict[str, Any] = (
            await stack.enter_async_context(emulated()) if args.emulator else {}
        )
        client = await stack.enter_async_context(AsyncModelSecurityClient(**kwargs))
        group_uuid = args.group
        if group_uuid is None:
            page = await client.security_groups.list(search_query="Default HUGGING_FACE")
            group_uuid = next(
                g.uuid for g in page.security_groups if g.name == "Default HUGGING_FACE"
            )
        print("== scan a model and read the result")
        await scan_walkthrough(client, args.model_uri, group_uuid)
        print("== define a security group")
        await group_walkthrough(client)


if __name__ == "__main__":
    asyncio.run(main())
