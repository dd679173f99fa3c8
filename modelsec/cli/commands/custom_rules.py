"""``modelsec custom-rules``: list, create, update, archive, assign to security groups.

Example::

    modelsec custom-rules create --name Reviewed --source ALL \\
        --condition '{"type": "label", "key": "reviewed", "operator": "not_exists"}' \\
        --message "Model has not been reviewed"
"""

from __future__ import annotations

import argparse
from typing import Any

from modelsec.cli.commands._shared import (
    _GROUP_HELP,
    SOURCE_TYPES,
    STATES,
    _collect,
    _group,
    _leaf,
    _note,
    _page_size,
    _show_list,
)
from modelsec.cli.common import (
    CLIError,
    print_object,
    read_json_arg,
    resolve_group_uuid,
)
from modelsec.client import AsyncModelSecurityClient

__all__ = ["add_custom_rules"]


def _condition(value: str | None) -> Any:
    return None if value is None else read_json_arg(value, "--condition")


async def _cr_list(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.custom_rules.list(limit=_page_size(a.limit), max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "custom_rule")


async def _cr_get(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.custom_rules.get(a.uuid), a.format)


async def _cr_create(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    rule = await c.custom_rules.create(
        name=a.name,
        compatible_sources=a.source or ["ALL"],
        condition=_condition(a.condition),
        violation_message=a.message,
        description=a.description,
        remediation_message=a.remediation,
        rule_action=a.action,
    )
    print_object(rule, a.format)


async def _cr_update(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    rule = await c.custom_rules.update(
        a.uuid,
        name=a.name,
        description=a.description,
        condition=_condition(a.condition),
        violation_message=a.message,
        remediation_message=a.remediation,
        rule_action=a.action,
    )
    print_object(rule, a.format)


async def _cr_archive(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    rule = await c.custom_rules.archive(a.uuid)
    if rule is None:
        _note(a, f"archived custom rule {a.uuid}")
    else:
        print_object(rule, a.format)


async def _cr_unarchive(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    rule = await c.custom_rules.unarchive(a.uuid)
    if rule is None:
        _note(a, f"unarchived custom rule {a.uuid}")
    else:
        print_object(rule, a.format)


async def _cr_groups(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.custom_rules.list_security_groups(a.uuid, limit=_page_size(a.limit), max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "custom_rule_group")


async def _cr_assign(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    assignments: dict[str, str] = {}
    for item in a.assignments:
        group, sep, state = item.partition("=")
        if not sep:
            state = "BLOCKING"
        if state.upper() not in STATES:
            raise CLIError(f"{item!r} must look like GROUP[=BLOCKING|ALLOWING|DISABLED]")
        assignments[await resolve_group_uuid(c, group)] = state.upper()
    print_object(await c.custom_rules.assign_security_groups(a.uuid, assignments), a.format)


async def _cr_unassign(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    await c.custom_rules.remove_assignment(a.uuid, a.group)
    _note(a, f"removed custom rule {a.uuid} from security group {a.group}")


async def _cr_versions(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    _show_list(await _collect(c.custom_rules.list_versions(), a.limit), a, "version")


def _custom_rule_fields(p: argparse.ArgumentParser, *, create: bool) -> None:
    p.add_argument("--name", required=create)
    p.add_argument(
        "--condition",
        required=create,
        metavar="JSON",
        help='e.g. \'{"type": "label", "key": "reviewed", "operator": "not_exists"}\' '
        "(inline, @file or - for stdin)",
    )
    p.add_argument("--message", required=create, metavar="TEXT", help="violation message")
    p.add_argument("--description")
    p.add_argument("--remediation", metavar="TEXT", help="remediation message")
    p.add_argument("--action", choices=("FAIL", "PASS"), help="what a true condition means")


def add_custom_rules(sub: Any) -> None:
    g = _group(sub, "custom-rules", "custom rules: conditions on labels and rule results")
    p = _leaf(g, "list", _cr_list, "list custom rules", limit=True)
    p = _leaf(g, "get", _cr_get, "show one custom rule")
    p.add_argument("uuid", metavar="RULE_UUID")
    p = _leaf(g, "create", _cr_create, "create a custom rule")
    _custom_rule_fields(p, create=True)
    p.add_argument(
        "--source",
        action="append",
        choices=("ALL", *SOURCE_TYPES),
        help="compatible source (repeatable, default ALL)",
    )
    p = _leaf(g, "update", _cr_update, "change a custom rule")
    p.add_argument("uuid", metavar="RULE_UUID")
    _custom_rule_fields(p, create=False)
    p = _leaf(g, "archive", _cr_archive, "archive a custom rule")
    p.add_argument("uuid", metavar="RULE_UUID")
    p = _leaf(g, "unarchive", _cr_unarchive, "bring back an archived custom rule")
    p.add_argument("uuid", metavar="RULE_UUID")
    p = _leaf(g, "groups", _cr_groups, "security groups a custom rule is assigned to", limit=True)
    p.add_argument("uuid", metavar="RULE_UUID")
    p = _leaf(g, "assign", _cr_assign, "assign a custom rule to 1..50 security groups")
    p.add_argument("uuid", metavar="RULE_UUID")
    p.add_argument(
        "assignments",
        nargs="+",
        metavar="GROUP[=STATE]",
        help="security group UUID or name; state default BLOCKING",
    )
    p = _leaf(g, "unassign", _cr_unassign, "remove a custom rule from a security group")
    p.add_argument("uuid", metavar="RULE_UUID")
    p.add_argument("group", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("group",))
    _leaf(g, "versions", _cr_versions, "snapshot versions of the custom rules", limit=True)
