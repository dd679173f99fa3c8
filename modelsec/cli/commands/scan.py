"""``modelsec scan``: gate models online (through the service) or ``--offline``.

Examples::

    modelsec scan hf://my-org/my-model                       # Default HUGGING_FACE group
    modelsec scan ./models/bert --group "My LOCAL policy" -l team=ml --format sarif -o out.sarif
    modelsec scan ./a ./b s3://bucket/c --concurrency 4 --format junit -o junit.xml
    modelsec scan ./models/* --workers 4 --concurrency 16   # local scans on 4 processes
    modelsec scan --offline ./models/bert --policy policy.json

Exit status: 0 every model ALLOWED, 1 some model BLOCKED, 2 an error or a timeout
(``--block-on-errors``: a scan that settled ERROR counts as BLOCKED). A target in which the
scanner judged no file (an empty directory, only non-model files) is never a pass: it is an
ERROR (``NOTHING_SCANNED``, exit 2) unless ``--allow-empty``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import threading
from collections.abc import Awaitable, Sequence
from typing import Any

from modelsec.cli.commands.scan_local import add_fleet_options, fleet_executor, target_python_arg
from modelsec.cli.commands.scan_offline import OfflineSetup, prepare_offline, run_offline
from modelsec.cli.common import (
    CLIError,
    add_connection_options,
    is_remote,
    is_uuid,
    make_client,
    parse_labels,
    source_type_of,
)
from modelsec.cli.formats import (
    FORMATS,
    ModelResult,
    Report,
    ViolationRecord,
    render,
    safe_text,
)
from modelsec.cli.gate import (
    INTERRUPTED,
    NOTHING_SCANNED,
    interrupted_result,
    mark_nothing_judged,
    reject_empty,
)
from modelsec.cli.interrupt import EXIT_INTERRUPTED, run_until_interrupted
from modelsec.cli.progress import Progress
from modelsec.client import AsyncModelSecurityClient
from modelsec.errors import ScanTimeoutError
from modelsec.types import Scan, SecurityGroup, Violation

__all__ = ["add_parser", "from_scan_result", "resolve_group", "run"]

EPILOG = """\
exit status:
  0  every model ALLOWED
  1  some model BLOCKED (with --block-on-errors, also a scan that ended in ERROR)
  2  an error or a timeout: a scan ended in ERROR, did not settle within --timeout,
     or could not be run (credentials, network, bad arguments); also a target in which
     no file was judged (empty, or no model file in it) unless --allow-empty
  130  interrupted (Ctrl-C): the verdicts that finished are still reported

examples:
  modelsec scan hf://my-org/my-model
  modelsec scan ./models/bert --group "ML Team LOCAL" -l team=ml --format sarif -o scan.sarif
  modelsec scan ./a ./b s3://bucket/c --format junit --output junit.xml
  modelsec scan --offline ./models/bert --policy policy.json --format json
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``scan`` on the subparsers action ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "scan",
        help="scan models and gate on the verdict (exit 0 allowed, 1 blocked, 2 error)",
        description="Scan one or more models (local paths or remote URIs) and wait for the\n"
        "verdicts. Without --group each target goes to the 'Default <SOURCE_TYPE>' group\n"
        "of its source (LOCAL, HUGGING_FACE, S3, GCS, AZURE, ARTIFACTORY, GITLAB).\n"
        "A live progress line is drawn on a terminal; CI logs get only the report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="a local file or directory, or a URI: hf://org/model, "
        "https://huggingface.co/org/model, s3://bucket/path, gs://..., ...",
    )
    p.add_argument(
        "-g",
        "--group",
        metavar="UUID_OR_NAME",
        help="security group to apply (default: 'Default <SOURCE_TYPE>' per target; "
        "with --offline: a group of the --policy file)",
    )
    p.add_argument(
        "-l",
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label the scans (repeatable)",
    )
    p.add_argument(
        "--allow-pattern",
        action="append",
        default=None,
        metavar="GLOB",
        help="only scan files matching (repeatable)",
    )
    p.add_argument(
        "--ignore-pattern",
        action="append",
        default=None,
        metavar="GLOB",
        help="skip files matching (repeatable)",
    )
    p.add_argument(
        "--download-dir",
        metavar="DIR",
        help="keep a copy of models read from object storage or registries under DIR "
        "(<DIR>/<platform>/<bucket>/<prefix>); by default they are scanned as streams",
    )
    p.add_argument(
        "--target-python",
        type=target_python_arg,
        metavar="VERSION",
        help="the Python that will load the models: 3.12, 3.11,3.12, pypy or 'any'; "
        "functions pickled by value (cloudpickle, dill) are bytecode, judged for it "
        "(default: the Python running modelsec)",
    )
    p.add_argument("--model-name", metavar="NAME")
    p.add_argument("--model-author", metavar="AUTHOR")
    p.add_argument("--model-version", metavar="VERSION")
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for each verdict (default: %(default)s)",
    )
    p.add_argument(
        "--poll-interval", type=float, default=None, metavar="SECONDS", help=argparse.SUPPRESS
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="scans in flight at once (default: %(default)s)",
    )
    p.add_argument(
        "--journal",
        metavar="FILE",
        help="append-only journal of the batch (JSON lines, fsync'd): run the same command "
        "again with the same FILE after a crash to resume it, without duplicate scans "
        "(one security group for all targets: --group, or targets of one source type)",
    )
    p.add_argument(
        "--block-on-errors",
        action="store_true",
        help="a scan that ends in ERROR counts as BLOCKED (exit 1 instead of 2)",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="let a target in which no file was judged (an empty directory, no model file) "
        "pass when its verdict is ALLOWED (default: it is an ERROR, exit 2)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="text",
        help="report format (default: %(default)s)",
    )
    out.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE (a text summary still goes to stdout)",
    )
    out.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no summary besides the report"
    )
    out.add_argument("--no-progress", action="store_true", help="no live progress display")
    off = p.add_argument_group("offline mode (no service at all)")
    off.add_argument(
        "--offline",
        action="store_true",
        help="scan local paths with the built-in scanner and judge them with the policy "
        "engine (the default rules of a LOCAL group, or --policy)",
    )
    off.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file for --offline (JSON, or YAML with PyYAML; see 'modelsec policy'): "
        "rule states, approved formats, custom rules; --group NAME picks one of its groups",
    )
    add_fleet_options(p)
    add_connection_options(p)
    p.set_defaults(func=run)
    return p


# ---------------------------------------------------------------------------------- online


async def resolve_group(
    client: AsyncModelSecurityClient, name_or_uuid: str, *, source_type: str | None = None
) -> SecurityGroup | str:
    """A group by UUID (returned as is, no request) or by exact name.

    Example:
        >>> # await resolve_group(client, "Default LOCAL")  -> SecurityGroup(...)
    """
    if is_uuid(name_or_uuid):
        return name_or_uuid
    if len(name_or_uuid) < 3:
        raise CLIError(f"group name {name_or_uuid!r} is too short (3 characters at least)")
    found: list[SecurityGroup] = []
    async for g in client.security_groups.list(
        search_query=name_or_uuid,
        source_types=[source_type] if source_type else None,
        max_items=1000,
    ):
        found.append(g)
    exact = [g for g in found if g.name == name_or_uuid] or [
        g for g in found if g.name.lower() == name_or_uuid.lower()
    ]
    if not exact:
        hint = "" if source_type is None else f" for {source_type} models"
        raise CLIError(f"no security group named {name_or_uuid!r}{hint}; pass --group UUID")
    if len(exact) > 1:
        raise CLIError(f"{len(exact)} security groups are named {name_or_uuid!r}; pass its UUID")
    return exact[0]


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def _violation_record(v: Violation) -> ViolationRecord:
    return ViolationRecord(
        rule_name=v.rule_name,
        rule_instance_state=str(_value(v.rule_instance_state)),
        description=v.description,
        file=v.file,
        threat=None if v.threat is None else str(_value(v.threat)),
        threat_description=v.threat_description,
        module=v.module,
        operator=v.operator,
        rule_description=v.rule_description,
        remediation_steps=list(v.remediation.steps),
        remediation_url=v.remediation.url or None,
    )


def from_scan_result(
    result: Any, *, group_name: str | None = None, allow_empty: bool = False
) -> ModelResult:
    """A :class:`~modelsec.workflows.ScanResult` -> the neutral :class:`ModelResult`.

    An ALLOWED result that judged no file (``result.nothing_judged``) becomes an ERROR unless
    ``allow_empty`` (see :func:`mark_nothing_judged`).
    """
    target: str = result.target
    remote = is_remote(target)
    try:
        source_type: str | None = source_type_of(target)
    except CLIError:
        source_type = None
    scan: Scan | None = result.scan
    error: BaseException | None = result.error
    if scan is None and isinstance(error, ScanTimeoutError) and isinstance(error.last, Scan):
        scan = error.last
    mr = ModelResult(
        target=target,
        outcome="ERROR",
        source_type=source_type,
        local_path=None if remote else target,
        security_group_name=group_name,
    )
    if scan is not None:
        mr.scan_uuid = scan.uuid
        mr.security_group_uuid = scan.security_group_uuid
        mr.security_group_name = scan.security_group_name or group_name
        mr.source_type = str(_value(scan.source_type))
        mr.model_formats = list(scan.model_formats or [])
        mr.files_scanned = scan.total_files_scanned
        mr.files_skipped = scan.total_files_skipped
        if scan.eval_summary is not None:
            mr.eval_summary = {
                "rules_passed": scan.eval_summary.rules_passed,
                "rules_failed": scan.eval_summary.rules_failed,
                "total_rules": scan.eval_summary.total_rules,
            }
        if scan.updated_at and scan.created_at:
            mr.duration_seconds = max(0.0, (scan.updated_at - scan.created_at).total_seconds())
    if isinstance(error, ScanTimeoutError):
        mr.outcome = "TIMEOUT"
        mr.settled = False
        mr.error_code = "TIMEOUT"
        mr.error_message = error.message
    elif error is not None:
        mr.outcome = "ERROR"
        mr.settled = False
        mr.error_code = type(error).__name__
        mr.error_message = getattr(error, "message", None) or str(error) or repr(error)
    elif scan is not None:
        mr.outcome = str(_value(scan.eval_outcome))
        if mr.outcome == "ERROR":
            mr.error_code = None if scan.error_code is None else str(_value(scan.error_code))
            mr.error_message = scan.error_message
        elif mr.outcome not in ("ALLOWED", "BLOCKED"):
            mr.settled = False
            mr.error_code = "NOT_SETTLED"
            mr.error_message = f"the scan is still {mr.outcome}"
    mr.violations = [_violation_record(v) for v in result.violations]
    if result.scan_details is not None:
        mr.files = list(result.scan_details.to_dict(exclude_none=True).get("files") or [])
    details = getattr(result, "scan_details", None)
    if details is not None:  # our own scanner's counts, whatever the service echoed
        mr.files_scanned = details.total_files_scanned
        mr.files_skipped = details.total_files_skipped
    mark_nothing_judged(
        mr,
        nothing_judged=bool(getattr(result, "nothing_judged", False)),
        allow_empty=allow_empty,
    )
    return mr


async def run_online(
    args: argparse.Namespace, report: Report, slots: list[ModelResult | None] | None = None
) -> None:
    """Scan every target through the service; fills ``report.results`` in input order.

    ``slots`` (one per target) receives each verdict as it arrives, so that an interrupted run
    still has the ones that finished.
    """
    targets: list[str] = list(args.targets)
    labels = parse_labels(args.label) or None
    for t in targets:
        source_type_of(t)  # fail early on URIs we cannot route
    if slots is None:
        slots = [None] * len(targets)
    async with make_client(args) as client:
        # target index -> group uuid, grouped so each group is one scan_many batch.
        buckets: dict[str, list[int]] = {}
        names: dict[str, str | None] = {}
        if args.group is not None:
            g = await resolve_group(client, args.group)
            gid = g if isinstance(g, str) else g.uuid
            names[gid] = None if isinstance(g, str) else g.name
            buckets[gid] = list(range(len(targets)))
        else:
            by_source: dict[str, str] = {}
            for i, t in enumerate(targets):
                st = source_type_of(t)
                if st not in by_source:
                    g = await resolve_group(client, f"Default {st}", source_type=st)
                    assert not isinstance(g, str)
                    by_source[st] = g.uuid
                    names[g.uuid] = g.name
                buckets.setdefault(by_source[st], []).append(i)
        if args.journal and len(buckets) > 1:
            raise CLIError(
                "--journal records one batch, but these targets go to "
                f"{len(buckets)} security groups; pass --group, or one journal per source type"
            )
        progress = Progress(
            total=len(targets), enabled=False if (args.quiet or args.no_progress) else None
        )
        counts: dict[str, tuple[int, int, int]] = dict.fromkeys(buckets, (0, 0, 0))

        def on_progress(gid: str) -> Any:
            def update(p: Any) -> None:
                counts[gid] = (p.completed, p.failed, p.in_flight)
                progress.update(
                    completed=sum(c[0] for c in counts.values()),
                    failed=sum(c[1] for c in counts.values()),
                    in_flight=sum(c[2] for c in counts.values()),
                )

            return update

        async def run_bucket(gid: str, indexes: list[int]) -> None:
            async for r in client.scan_many(
                [targets[i] for i in indexes],
                security_group_uuid=gid,
                concurrency=max(1, args.concurrency),
                timeout=args.timeout,
                poll_interval=args.poll_interval,
                on_progress=on_progress(gid),
                model_name=args.model_name,
                model_author=args.model_author,
                model_version=args.model_version,
                allow_patterns=args.allow_pattern,
                ignore_patterns=args.ignore_pattern,
                labels=labels,
                journal=args.journal,
                download_dir=args.download_dir,
                executor=getattr(args, "executor", None),
                target_python=args.target_python,
            ):
                mr = from_scan_result(r, group_name=names.get(gid), allow_empty=args.allow_empty)
                slots[indexes[r.index]] = mr

        async with progress:
            await asyncio.gather(*(run_bucket(gid, idx) for gid, idx in buckets.items()))
    for i, t in enumerate(targets):
        if slots[i] is None:  # scan_many yields one result per input; belt and braces
            slots[i] = ModelResult(
                target=t, outcome="ERROR", settled=False, error_message="no result"
            )
    report.results = [s for s in slots if s is not None]


# ---------------------------------------------------------------------------------- Ctrl-C


async def run_interruptible(
    args: argparse.Namespace, report: Report, setup: OfflineSetup | None = None
) -> bool:
    """Run the scans with Ctrl-C handled (see :mod:`modelsec.cli.interrupt`); True if pressed.

    On the first Ctrl-C local scans stop at their next read, waits on the service are
    cancelled, and ``report.results`` holds the verdicts that finished plus an ``INTERRUPTED``
    error for every other target.
    """
    targets: list[str] = list(args.targets)
    slots: list[ModelResult | None] = [None] * len(targets)

    def start(cancel: threading.Event) -> Awaitable[None]:
        if setup is not None:
            return run_offline(args, report, setup, slots, cancel)
        return run_online(args, report, slots)

    scanner = setup is not None or any(not is_remote(t) for t in targets)
    interrupted = await run_until_interrupted(start, scanner=scanner)
    if interrupted:
        report.results = [
            s if s is not None else interrupted_result(t, offline=setup is not None)
            for s, t in zip(slots, targets, strict=True)
        ]
    return interrupted


# ---------------------------------------------------------------------------------- entry


def _colour(stream: Any) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def emit(report: Report, args: argparse.Namespace) -> None:
    """Write the report where asked (stdout or ``--output``) and the text summary."""
    fmt: str = args.format
    if args.output:
        body = render(report, fmt)
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(body if body.endswith("\n") else body + "\n")
        except OSError as exc:
            raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        if not args.quiet:
            sys.stdout.write(render(report, "text", colour=_colour(sys.stdout)) + "\n")
    else:
        colour = fmt == "text" and _colour(sys.stdout)
        sys.stdout.write(render(report, fmt, colour=colour) + "\n")
    sys.stdout.flush()


def _redact(argv: Sequence[str]) -> list[str]:
    """The command line without the client secret."""
    out: list[str] = []
    hide = False
    for a in argv:
        if hide:
            out.append("***")
            hide = False
        elif a == "--client-secret":
            out.append(a)
            hide = True
        elif a.startswith("--client-secret="):
            out.append("--client-secret=***")
        else:
            out.append(a)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``modelsec scan``; returns the exit status."""
    reject_empty(args)
    if args.policy and not args.offline:
        raise CLIError("--policy applies to --offline scans; online scans use --group")
    if args.timeout <= 0:
        raise CLIError("--timeout must be > 0")
    if args.concurrency < 1:
        raise CLIError("--concurrency must be >= 1")
    if args.format == "cyclonedx":  # fail before scanning when the extra is missing
        from modelsec.bom import MissingExtraError, require_cyclonedx

        try:
            require_cyclonedx()
        except MissingExtraError as exc:
            raise CLIError(str(exc)) from None
    if args.offline and (args.workers is not None or args.dask or args.ray):
        raise CLIError("--workers, --dask and --ray apply to online scans")
    argv: Sequence[str] = getattr(args, "argv", None) or sys.argv[1:]
    report = Report(
        mode="offline" if args.offline else "online",
        results=[],
        block_on_errors=args.block_on_errors,
        command_line=shlex.join(["modelsec", *_redact(argv)]),
    )
    setup = prepare_offline(args) if args.offline else None
    with fleet_executor(args) as args.executor:
        interrupted = asyncio.run(run_interruptible(args, report, setup))
    report.finished_at = report.started_at.__class__.now(report.started_at.tzinfo)
    if args.format != "text" and not args.output and not args.quiet:
        # The report fills stdout; the log reader still learns why the gate failed.
        for r in report.results:
            if r.error_code == NOTHING_SCANNED:
                sys.stderr.write(
                    f"modelsec: nothing judged in {safe_text(r.target)} (no model file read; "
                    "--allow-empty lets it pass)\n"
                )
    emit(report, args)
    if interrupted:
        left = sum(1 for r in report.results if r.error_code == INTERRUPTED)
        sys.stderr.write(f"modelsec: interrupted: {left} of {len(report.results)} not finished\n")
        return EXIT_INTERRUPTED
    return report.exit_code
