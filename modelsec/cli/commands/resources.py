"""Commands for every SDK operation: ``scans``, ``groups``, ``rules``, ``models``,
``custom-rules`` and ``pypi-auth``.

Lists page through everything (``--limit N`` caps the count) and print a table or, with
``--format json``, a JSON array of wire objects. Single objects print as ``key  value`` lines
or JSON.

Examples::

    modelsec scans list --outcome BLOCKED --limit 20
    modelsec scans violations 3f0c...-uuid --format json
    modelsec scans labels add 3f0c...-uuid -l team=ml -l env=prod
    modelsec groups list --source-type LOCAL
    modelsec groups set-rule GROUP_UUID "Stored In Approved File Format" --state ALLOWING
    modelsec groups set-rule GROUP_UUID RULE_INSTANCE_UUID --field approved_formats=safetensors,onnx
    modelsec models versions MODEL_UUID
    modelsec custom-rules create --name Reviewed --source ALL \\
        --condition '{"type": "label", "key": "reviewed", "operator": "not_exists"}' \\
        --message "Model has not been reviewed"
    modelsec pypi-auth --show-secret
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelsec.cli.commands._shared import (
    _GROUP_HELP,
    OUTCOMES,
    SOURCE_TYPES,
    STATES,
    _collect,
    _field_values,
    _group,
    _leaf,
    _note,
    _page_size,
    _show_list,
)
from modelsec.cli.commands.custom_rules import add_custom_rules
from modelsec.cli.common import (
    CLIError,
    is_uuid,
    parse_labels,
    print_object,
    read_json_arg,
)
from modelsec.cli.formats import safe_text
from modelsec.client import AsyncModelSecurityClient

__all__ = ["add_parsers"]


# ---------------------------------------------------------------------------------- scans


async def _scans_list(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.scans.list(
        limit=_page_size(a.limit),
        eval_outcomes=a.outcome or None,
        source_types=a.source_type or None,
        security_group_uuid=a.group,
        search_query=a.search,
        labels_query=a.labels_query,
        sort_order=a.sort,
        max_items=a.limit,
    )
    _show_list(await _collect(pag, a.limit), a, "scan")


async def _scans_get(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.scans.get(a.uuid), a.format)


async def _scans_evaluations(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.scans.get_evaluations(
        a.uuid, limit=_page_size(a.limit), result=a.result, max_items=a.limit
    )
    _show_list(await _collect(pag, a.limit), a, "evaluation")


async def _scans_evaluation(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.scans.get_evaluation(a.uuid), a.format)


async def _scans_violations(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.scans.get_violations(a.uuid, limit=_page_size(a.limit), max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "violation")


async def _scans_violation(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.scans.get_violation(a.uuid), a.format)


async def _scans_files(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.scans.get_files(a.uuid, limit=_page_size(a.limit), query_path=a.path, max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "file")


async def _labels_add(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    labels = parse_labels(a.label)
    if not labels:
        raise CLIError("give at least one label: -l key=value")
    print_object(await c.scans.add_labels(a.uuid, labels), a.format)


async def _labels_set(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    labels = parse_labels(a.label)
    if not labels:
        raise CLIError("give at least one label: -l key=value (use 'labels delete' to clear)")
    print_object(await c.scans.set_labels(a.uuid, labels), a.format)


async def _labels_delete(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    await c.scans.delete_labels(a.uuid, list(a.keys))
    _note(a, f"deleted {len(a.keys)} label key(s) from scan {a.uuid}")


async def _label_keys(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.scans.get_label_keys(limit=_page_size(a.limit), search=a.search, max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "string")


async def _label_values(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.scans.get_label_values(
        a.key, limit=_page_size(a.limit), search=a.search, max_items=a.limit
    )
    _show_list(await _collect(pag, a.limit), a, "string")


def _add_scans(sub: Any) -> None:
    g = _group(sub, "scans", "list and inspect scans, their evaluations, violations and labels")
    p = _leaf(g, "list", _scans_list, "list scans (newest first)", limit=True)
    p.add_argument("--outcome", action="append", choices=OUTCOMES, help="repeatable")
    p.add_argument("--source-type", action="append", choices=SOURCE_TYPES, help="repeatable")
    p.add_argument("--group", metavar="GROUP", help="only scans of this group (UUID or name)")
    p.set_defaults(group_refs=("group",))
    p.add_argument("--search", metavar="TEXT", help="search the model URI and name")
    p.add_argument("--labels-query", metavar="QUERY", help="e.g. 'team:ml AND (env:prod OR env:*)'")
    p.add_argument("--sort", choices=("asc", "desc"), help="order by creation time")
    p = _leaf(g, "get", _scans_get, "show one scan")
    p.add_argument("uuid", metavar="SCAN_UUID")
    p = _leaf(g, "evaluations", _scans_evaluations, "rule evaluations of a scan", limit=True)
    p.add_argument("uuid", metavar="SCAN_UUID")
    p.add_argument("--result", choices=("PASSED", "FAILED", "ERROR"))
    p = _leaf(g, "evaluation", _scans_evaluation, "show one rule evaluation")
    p.add_argument("uuid", metavar="EVALUATION_UUID")
    p = _leaf(g, "violations", _scans_violations, "rule violations of a scan", limit=True)
    p.add_argument("uuid", metavar="SCAN_UUID")
    p = _leaf(g, "violation", _scans_violation, "show one violation")
    p.add_argument("uuid", metavar="VIOLATION_UUID")
    p = _leaf(g, "files", _scans_files, "files of a scan", limit=True)
    p.add_argument("uuid", metavar="SCAN_UUID")
    p.add_argument("--path", metavar="DIR", help="only entries under this directory")

    lg = _group(g, "labels", "add, replace or delete the labels of a scan")
    p = _leaf(lg, "add", _labels_add, "add labels (same key overwrites)")
    p.add_argument("uuid", metavar="SCAN_UUID")
    p.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    p = _leaf(lg, "set", _labels_set, "replace all labels")
    p.add_argument("uuid", metavar="SCAN_UUID")
    p.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    p = _leaf(lg, "delete", _labels_delete, "delete labels by key")
    p.add_argument("uuid", metavar="SCAN_UUID")
    p.add_argument("keys", nargs="+", metavar="KEY")

    p = _leaf(g, "label-keys", _label_keys, "label keys in use", limit=True)
    p.add_argument("--search", metavar="TEXT")
    p = _leaf(g, "label-values", _label_values, "values in use for a label key", limit=True)
    p.add_argument("key", metavar="KEY")
    p.add_argument("--search", metavar="TEXT")


# ---------------------------------------------------------------------------------- groups


async def _groups_list(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.security_groups.list(
        limit=_page_size(a.limit),
        source_types=a.source_type or None,
        search_query=a.search,
        max_items=a.limit,
    )
    _show_list(await _collect(pag, a.limit), a, "group")


async def _groups_get(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.security_groups.get(a.uuid), a.format)


async def _rule_uuid(c: AsyncModelSecurityClient, name_or_uuid: str) -> str:
    if is_uuid(name_or_uuid):
        return name_or_uuid
    async for r in c.security_rules.list():
        if r.name.lower() == name_or_uuid.lower():
            return r.uuid
    raise CLIError(f"no security rule named {name_or_uuid!r}")


async def _groups_create(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    configs: dict[str, Any] = {}
    if a.rule_configurations:
        raw = read_json_arg(a.rule_configurations, "--rule-configurations")
        if not isinstance(raw, dict):
            raise CLIError("--rule-configurations must be a JSON object")
        configs.update(raw)
    for item in a.rule or ():
        name, sep, state = item.rpartition("=")
        if not sep or state.upper() not in STATES:
            raise CLIError(f"--rule {item!r} must look like RULE=BLOCKING|ALLOWING|DISABLED")
        configs[await _rule_uuid(c, name)] = {"state": state.upper()}
    group = await c.security_groups.create(
        name=a.name,
        source_type=a.source_type,
        description=a.description,
        rule_configurations=configs or None,
    )
    if a.wait:
        group = await c.security_groups.wait_active(group.uuid)
    print_object(group, a.format)


async def _groups_update(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    if a.name is None and a.description is None:
        raise CLIError("nothing to update: give --name and/or --description")
    print_object(
        await c.security_groups.update(a.uuid, name=a.name, description=a.description), a.format
    )


async def _groups_delete(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    await c.security_groups.delete(a.uuid)
    _note(a, f"deleted security group {a.uuid}")


async def _groups_rules(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.security_groups.list_rule_instances(
        a.uuid, limit=_page_size(a.limit), state=a.state, max_items=a.limit
    )
    _show_list(await _collect(pag, a.limit), a, "rule_instance")


async def _rule_instance_uuid(c: AsyncModelSecurityClient, group: str, rule: str) -> str:
    if is_uuid(rule):
        return rule
    async for ri in c.security_groups.list_rule_instances(group):
        if ri.rule.name.lower() == rule.lower():
            return ri.uuid
    raise CLIError(f"security group {group} has no rule named {rule!r}")


async def _groups_rule(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    ri = await _rule_instance_uuid(c, a.uuid, a.rule)
    print_object(await c.security_groups.get_rule_instance(a.uuid, ri), a.format)


async def _groups_set_rule(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    fields = _field_values(a.field)
    if a.state is None and fields is None:
        raise CLIError("nothing to change: give --state and/or --field key=v1,v2")
    ri = await _rule_instance_uuid(c, a.uuid, a.rule)
    result = await c.security_groups.update_rule_instance(
        a.uuid, ri, state=a.state, field_values=fields
    )
    if a.format == "json":
        print_object(result, a.format)
        return
    # A person reads this: the rule, its state and its values, not the whole wire object.
    state = getattr(result.state, "value", result.state)
    sys.stdout.write(
        f"{safe_text(result.rule.name)}: {safe_text(state)} "
        f"(security group {safe_text(result.security_group_uuid)})\n"
    )
    for key, value in sorted(result.field_values.items()):
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        sys.stdout.write(f"  {safe_text(key)}: {safe_text(shown)}\n")


async def _groups_rule_versions(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.security_groups.list_rule_instance_versions(a.uuid)
    _show_list(await _collect(pag, a.limit), a, "version")


def _add_groups(sub: Any) -> None:
    g = _group(sub, "groups", "manage security groups and their rules", aliases=["security-groups"])
    p = _leaf(g, "list", _groups_list, "list security groups", limit=True)
    p.add_argument("--source-type", action="append", choices=SOURCE_TYPES, help="repeatable")
    p.add_argument("--search", metavar="TEXT", help="3 characters at least")
    p = _leaf(g, "get", _groups_get, "show one security group")
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))
    p = _leaf(g, "create", _groups_create, "create a security group")
    p.add_argument("--name", required=True)
    p.add_argument("--source-type", required=True, choices=SOURCE_TYPES)
    p.add_argument("--description")
    p.add_argument(
        "--rule",
        action="append",
        metavar="RULE=STATE",
        help="rule name or UUID with BLOCKING|ALLOWING|DISABLED (repeatable)",
    )
    p.add_argument(
        "--rule-configurations",
        metavar="JSON",
        help="raw {rule_uuid: {state, field_values}} (inline, @file or - for stdin)",
    )
    p.add_argument("--wait", action="store_true", help="wait until the group is ACTIVE")
    p = _leaf(g, "update", _groups_update, "rename or describe a security group")
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))
    p.add_argument("--name")
    p.add_argument("--description")
    p = _leaf(g, "delete", _groups_delete, "delete a security group (soft delete)")
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))
    p = _leaf(g, "rules", _groups_rules, "rule instances of a group", limit=True)
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))
    p.add_argument("--state", choices=STATES)
    p = _leaf(g, "rule", _groups_rule, "show one rule instance of a group")
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))
    p.add_argument("rule", metavar="RULE", help="rule instance UUID or rule name")
    p = _leaf(g, "set-rule", _groups_set_rule, "change a rule's state or field values")
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))
    p.add_argument("rule", metavar="RULE", help="rule instance UUID or rule name")
    p.add_argument("--state", choices=STATES)
    p.add_argument(
        "--field",
        action="append",
        metavar="KEY=V1,V2",
        help="e.g. approved_formats=safetensors,onnx (repeatable)",
    )
    p = _leaf(
        g, "rule-versions", _groups_rule_versions, "snapshot versions of the rules", limit=True
    )
    p.add_argument("uuid", metavar="GROUP", help=_GROUP_HELP)
    p.set_defaults(group_refs=("uuid",))


# ---------------------------------------------------------------------------------- rules


async def _rules_list(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.security_rules.list(
        limit=_page_size(a.limit),
        source_type=a.source_type,
        search_query=a.search,
        max_items=a.limit,
    )
    _show_list(await _collect(pag, a.limit), a, "rule")


async def _rules_get(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.security_rules.get(await _rule_uuid(c, a.rule)), a.format)


async def _rules_versions(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    _show_list(await _collect(c.security_rules.list_versions(), a.limit), a, "version")


def _add_rules(sub: Any) -> None:
    g = _group(sub, "rules", "the built-in security rules (read-only)", aliases=["security-rules"])
    p = _leaf(g, "list", _rules_list, "list security rules", limit=True)
    p.add_argument("--source-type", choices=SOURCE_TYPES)
    p.add_argument("--search", metavar="TEXT")
    p = _leaf(g, "get", _rules_get, "show one security rule")
    p.add_argument("rule", metavar="RULE", help="rule UUID or name")
    _leaf(g, "versions", _rules_versions, "snapshot versions of the rule catalog", limit=True)


# ---------------------------------------------------------------------------------- models


async def _models_list(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.models.list(
        limit=_page_size(a.limit),
        search_query=a.search,
        latest_version_outcomes=a.outcome or None,
        latest_version_source_types=a.source_type or None,
        max_items=a.limit,
    )
    _show_list(await _collect(pag, a.limit), a, "model")


async def _models_get(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.models.get(a.uuid), a.format)


async def _models_versions(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.models.list_versions(a.uuid, limit=_page_size(a.limit), max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "model_version")


async def _models_version(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    print_object(await c.models.get_version(a.uuid), a.format)


async def _models_files(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    pag = c.models.list_version_files(a.uuid, limit=_page_size(a.limit), max_items=a.limit)
    _show_list(await _collect(pag, a.limit), a, "file")


def _add_models(sub: Any) -> None:
    g = _group(sub, "models", "models and model versions seen by scans")
    p = _leaf(g, "list", _models_list, "list models", limit=True)
    p.add_argument("--search", metavar="TEXT")
    p.add_argument("--outcome", action="append", choices=OUTCOMES, help="latest version's")
    p.add_argument("--source-type", action="append", choices=SOURCE_TYPES, help="repeatable")
    p = _leaf(g, "get", _models_get, "show one model")
    p.add_argument("uuid", metavar="MODEL_UUID")
    p = _leaf(g, "versions", _models_versions, "versions of a model", limit=True)
    p.add_argument("uuid", metavar="MODEL_UUID")
    p = _leaf(g, "version", _models_version, "show one model version")
    p.add_argument("uuid", metavar="VERSION_UUID")
    p = _leaf(g, "files", _models_files, "files of a model version", limit=True)
    p.add_argument("uuid", metavar="VERSION_UUID")


# ---------------------------------------------------------------------------------- pypi-auth


async def _pypi_auth(c: AsyncModelSecurityClient, a: argparse.Namespace) -> None:
    auth = await c.get_pypi_auth()
    url = auth.url if a.show_secret else auth.redacted_url
    if a.format == "json":
        data = {"url": url, "expires_at": auth.expires_at}
        print_object(data, "json")
    else:
        sys.stdout.write(f"{safe_text(url)}\n")
        _note(a, f"expires at {auth.expires_at.isoformat()}")
        if not a.show_secret:
            _note(a, "(credential redacted; --show-secret prints the usable URL)")


def _add_pypi_auth(sub: Any) -> None:
    p = _leaf(
        sub,
        "pypi-auth",
        _pypi_auth,
        "the URL of the vendor's package index (credential redacted)",
        formats=("text", "json"),
        description="Print the short-lived URL of the vendor's private package index. The "
        "credential in it is redacted unless --show-secret is given, e.g. "
        'pip install --index-url "$(modelsec pypi-auth --show-secret)" model-security-client',
    )
    p.add_argument("--show-secret", action="store_true", help="print the URL with its credential")


def add_parsers(sub: Any) -> None:
    """Register every resource command group on the subparsers action ``sub``."""
    _add_scans(sub)
    _add_groups(sub)
    _add_rules(sub)
    _add_models(sub)
    add_custom_rules(sub)
    _add_pypi_auth(sub)
