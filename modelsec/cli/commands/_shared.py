"""What the resource commands share: columns, choices, the leaf-command builder, list output.

Used by :mod:`modelsec.cli.commands.resources` and :mod:`modelsec.cli.commands.custom_rules`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from modelsec.cli.common import (
    CLIError,
    add_connection_options,
    add_output_options,
    make_client,
    print_items,
    resolve_group_uuid,
)
from modelsec.cli.formats import safe_text
from modelsec.client import AsyncModelSecurityClient

__all__ = [
    "COLUMNS",
    "OUTCOMES",
    "SOURCE_TYPES",
    "STATES",
    "_GROUP_HELP",
    "Handler",
    "_collect",
    "_field_values",
    "_group",
    "_leaf",
    "_needs_subcommand",
    "_note",
    "_page_size",
    "_quiet",
    "_runner",
    "_show_list",
]

Handler = Callable[[AsyncModelSecurityClient, argparse.Namespace], Awaitable[None]]

OUTCOMES = ("PENDING", "ALLOWED", "BLOCKED", "ERROR")
SOURCE_TYPES = ("LOCAL", "HUGGING_FACE", "S3", "GCS", "AZURE", "ARTIFACTORY", "GITLAB")
STATES = ("BLOCKING", "ALLOWING", "DISABLED")

COLUMNS: dict[str, Sequence[str]] = {
    "scan": (
        "uuid",
        "eval_outcome",
        "source_type",
        "model_uri",
        "security_group_name",
        "created_at",
    ),
    "evaluation": ("uuid", "result", "rule_instance_state", "violation_count", "rule_name"),
    "violation": ("uuid", "rule_instance_state", "rule_name", "file", "threat", "description"),
    "file": ("uuid", "type", "result", "path", "formats"),
    "group": ("uuid", "name", "source_type", "state", "description"),
    "rule_instance": ("uuid", "state", "rule.name", "rule.rule_type", "field_values"),
    "rule": ("uuid", "name", "rule_type", "default_state", "compatible_sources"),
    "model": ("uuid", "name", "latest_version_outcome", "latest_version_formats", "updated_at"),
    "model_version": ("uuid", "revision", "last_eval_outcome", "model_formats", "latest_scan_time"),
    "custom_rule": ("uuid", "name", "rule_action", "is_archived", "compatible_sources"),
    "custom_rule_group": ("uuid", "name", "source_type", "rule_state"),
    "version": ("generation", "timestamp"),
    "string": (),
}


def _page_size(limit: int | None) -> int:
    return 100 if limit is None else max(1, min(100, limit))


async def _collect(paginator: Any, limit: int | None) -> list[Any]:
    items: list[Any] = []
    async for item in paginator:
        items.append(item)
        if limit is not None and len(items) >= limit:
            break  # now, before the paginator asks for a page nobody will read
    return items


def _show_list(items: list[Any], args: argparse.Namespace, kind: str) -> None:
    if kind == "string":
        if args.format == "json":
            print_items(items, "json", ())
        else:
            for item in items:
                sys.stdout.write(f"{safe_text(item)}\n")
        return
    print_items(items, args.format, COLUMNS[kind])


def _leaf(
    sub: Any,
    name: str,
    handler: Handler,
    help: str,
    *,
    aliases: Sequence[str] = (),
    formats: Sequence[str] = ("table", "json"),
    limit: bool = False,
    description: str | None = None,
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        aliases=list(aliases),
    )
    add_output_options(p, choices=formats, default=formats[0])
    if limit:
        p.add_argument(
            "--limit", type=int, default=None, metavar="N", help="show at most N items (all)"
        )
    add_connection_options(p)
    p.set_defaults(func=_runner(handler))
    return p


def _runner(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        limit = getattr(args, "limit", None)
        if limit is not None and limit < 1:
            raise CLIError("--limit must be >= 1")

        async def main() -> None:
            async with make_client(args) as client:
                for name in getattr(args, "group_refs", ()):  # group names -> UUIDs
                    if getattr(args, name) is not None:
                        setattr(args, name, await resolve_group_uuid(client, getattr(args, name)))
                await handler(client, args)

        asyncio.run(main())
        return 0

    return run


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def _note(args: argparse.Namespace, text: str) -> None:
    """A remark on stderr (not the command's output); silenced by ``-q``."""
    if not _quiet(args):
        sys.stderr.write(text + "\n")


_GROUP_HELP = "security group UUID or name"


def _group(sub: Any, name: str, help: str, *, aliases: Sequence[str] = ()) -> Any:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=help[:1].upper() + help[1:] + ".", aliases=list(aliases)
    )
    p.set_defaults(func=_needs_subcommand(p))
    return p.add_subparsers(title="commands", metavar="COMMAND")


def _needs_subcommand(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    return run


def _field_values(items: Sequence[str] | None) -> dict[str, list[str]] | None:
    if not items:
        return None
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--field {item!r} must look like key=value1,value2")
        out[key.strip()] = [v.strip() for v in value.split(",") if v.strip()]
    return out
