"""A plain blocking script: scan one model, print the verdict, exit non-zero when blocked.

python examples/sync_script.py ./models/bert --group <uuid>
python examples/sync_script.py --emulator        # offline, against a local emulator
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from modelsec import ModelSecurityClient
from modelsec.cli.demo import write_benign_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="a local model path or a remote URI")
    parser.add_argument("--group", help="security group uuid (default: 'Default LOCAL')")
    parser.add_argument("--emulator", action="store_true")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        kwargs: dict[str, Any] = {}
        target = args.target
        if args.emulator:
            from modelsec.emulator import EmulatorThread

            emu = stack.enter_context(EmulatorThread(port=0, settle_delay=0.1))
            kwargs = emu.client_kwargs()
            if target is None:
                model = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "model"
                write_benign_model(model)  # safetensors + config.json: something to judge
                target = str(model)
        if target is None:
            parser.error("give a target (or --emulator)")
        client = stack.enter_context(ModelSecurityClient(**kwargs))
        group = args.group or next(
            g.uuid
            for g in client.security_groups.list(search_query="Default LOCAL")
            if g.name == "Default LOCAL"
        )
        result = client.scan(target, security_group_uuid=group)
        print(f"{target}: {result.outcome}")
        for v in result.violations:
            print(f"  {v.rule_name}: {v.description}")
        return 1 if result.is_blocked else 0


if __name__ == "__main__":
    sys.exit(main())
