"""``modelsec scan --offline``: the verdict computed here, with no service at all.

The targets (local paths, object-storage URIs) are scanned on this machine and judged by the
offline policy engine (:mod:`modelsec.policy`) with the rules of ``--policy FILE`` (and its
``--group``) or the default rules of each target's source type.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from modelsec.cli.common import CLIError, is_remote, parse_labels, source_type_of
from modelsec.cli.formats import ModelResult, Report, ViolationRecord
from modelsec.cli.gate import mark_nothing_judged
from modelsec.cli.progress import Progress
from modelsec.errors import AISecSDKException

__all__ = ["OfflineSetup", "prepare_offline", "run_offline"]


def _offline_violation(v: Any) -> ViolationRecord:
    return ViolationRecord(
        rule_name=v.rule_name,
        rule_instance_state=v.rule_instance_state,
        description=v.description,
        file=v.file,
        threat=v.threat,
        threat_description=v.threat_description,
        module=v.module,
        operator=v.operator,
        rule_description=v.rule_description,
        remediation_steps=list(v.remediation_steps),
        remediation_url=v.remediation_url or None,
    )


@dataclass
class OfflineSetup:
    """What an offline run needs, prepared before the event loop starts (it reads files)."""

    instances: list[Any]
    customs: list[Any]
    labels: dict[str, str]
    group_name: str
    absolute: list[str]
    policy: Any = None


def prepare_offline(args: argparse.Namespace) -> OfflineSetup:
    """Check the targets and load the policy (``--policy``) or the default LOCAL rules."""
    from modelsec.policy import PolicyFileError, default_rule_instances, load_policy
    from modelsec.sources import is_storage_uri

    remote = [t for t in args.targets if is_remote(t) and not is_storage_uri(t)]
    if remote:
        raise CLIError(f"--offline scans local paths and object storage only, not {remote[0]!r}")
    if args.group is not None and args.policy is None:
        raise CLIError("--offline --group NAME needs --policy FILE (the file that holds the group)")
    if args.journal:
        raise CLIError("--journal records scans of the service; --offline makes none")
    try:
        policy = load_policy(args.policy, group=args.group) if args.policy is not None else None
    except PolicyFileError as exc:
        raise CLIError(f"policy {args.policy}: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"policy {args.policy}: {exc.strerror or exc}") from exc
    return OfflineSetup(
        instances=list(
            policy.rule_instances("LOCAL") if policy else default_rule_instances("LOCAL")
        ),
        customs=list(policy.custom_rule_instances() if policy else []),
        labels=parse_labels(args.label),
        group_name=args.group
        or (f"policy {os.path.basename(args.policy)}" if args.policy else "Default LOCAL"),
        absolute=[t if is_remote(t) else os.path.abspath(t) for t in args.targets],
        policy=policy,
    )


async def run_offline(
    args: argparse.Namespace,
    report: Report,
    setup: OfflineSetup,
    slots: list[ModelResult | None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Scan local paths with :mod:`modelsec.scanner` and judge them with :mod:`modelsec.policy`.

    ``slots`` receives each verdict as it is made; once ``cancel`` is set, scans stop at their
    next read and the targets not finished keep an empty slot.
    """
    from modelsec.policy import evaluate_scan
    from modelsec.scanner import ScanCancelled, scan_path_async

    instances, customs, labels = setup.instances, setup.customs, setup.labels
    group_name, absolute = setup.group_name, setup.absolute
    targets: list[str] = list(args.targets)
    if slots is None:
        slots = [None] * len(targets)
    done = failed = 0
    sem = asyncio.Semaphore(max(1, args.concurrency))
    progress = Progress(
        total=len(targets), enabled=False if (args.quiet or args.no_progress) else None
    )

    async def one(i: int, target: str) -> None:
        nonlocal done, failed
        async with sem:
            if cancel is not None and cancel.is_set():
                return  # interrupted before it started
            st, rules, gname = "LOCAL", instances, group_name
            if is_remote(target):  # object storage (prepare_offline let nothing else through)
                st = source_type_of(target)
                rules = _offline_rules(setup, st)
                gname = group_name.replace("Default LOCAL", f"Default {st}")
            mr = ModelResult(
                target=target,
                outcome="ERROR",
                source_type=st,
                local_path=None if is_remote(target) else target,
                security_group_name=gname,
            )
            t0 = time.monotonic()
            try:
                if is_remote(target):
                    details = await _scan_storage_async(target, args)
                else:
                    details = await scan_path_async(
                        target,
                        allow_patterns=args.allow_pattern,
                        ignore_patterns=args.ignore_pattern,
                        target_python=args.target_python,
                        cancel=cancel,
                    )
            except ScanCancelled:
                return  # interrupted: no verdict
            except FileNotFoundError:
                mr.settled = False
                mr.error_code = "FileNotFoundError"
                mr.error_message = f"no such file or directory: {target}"
            except (OSError, AISecSDKException, ValueError) as exc:
                mr.settled = False
                mr.error_code = type(exc).__name__
                mr.error_message = getattr(exc, "message", None) or str(exc)
            else:
                wire = details.to_dict(exclude_none=True)
                ev = evaluate_scan(
                    wire,
                    rules,
                    source_type=st,
                    model_uri=absolute[i],
                    labels=labels,
                    custom_rules=customs,
                )
                mr.outcome = ev.outcome
                mr.eval_summary = ev.summary
                mr.error_code = ev.error_code
                mr.error_message = ev.error_message
                mr.model_formats = list(details.model_formats)
                mr.files_scanned = details.total_files_scanned
                mr.files_skipped = details.total_files_skipped
                mr.files = list(wire.get("files") or [])
                mr.violations = [_offline_violation(v) for v in ev.violations]
                mark_nothing_judged(
                    mr,
                    nothing_judged=all(f.modelscan_status != "SCANNED" for f in details.files),
                    allow_empty=args.allow_empty,
                )
            mr.duration_seconds = time.monotonic() - t0
            slots[i] = mr
            done += 1
            failed += mr.outcome not in ("ALLOWED", "BLOCKED")
            progress.update(completed=done, failed=failed, in_flight=0)

    async with progress:
        await asyncio.gather(*(one(i, t) for i, t in enumerate(targets)))
    report.results = [s for s in slots if s is not None]


def _offline_rules(setup: OfflineSetup, source_type: str) -> list[Any]:
    from modelsec.policy import default_rule_instances

    if setup.policy is not None:
        return list(setup.policy.rule_instances(source_type))
    return list(default_rule_instances(source_type))


async def _scan_storage_async(target: str, args: argparse.Namespace) -> Any:
    import anyio.to_thread

    from modelsec.sources import scan_uri

    def call() -> Any:
        return scan_uri(
            target,
            allow_patterns=args.allow_pattern,
            ignore_patterns=args.ignore_pattern,
            download_dir=args.download_dir,
            target_python=args.target_python,
        )

    return await anyio.to_thread.run_sync(call)
