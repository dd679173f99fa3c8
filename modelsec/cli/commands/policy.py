"""``modelsec policy``: the policy file as code: init, check, schema, export, plan, apply.

Usage::

    modelsec policy init policy.yaml            # a commented starter
    modelsec policy check policy.yaml           # validate (no service)
    modelsec policy export -o policy.yaml       # the tenant as a file
    modelsec policy plan policy.yaml            # what apply would change (exit 1: changes)
    modelsec policy apply policy.yaml --yes     # make the tenant match
    modelsec scan --offline --policy policy.yaml --group ml-local ./model

Example:
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> p = add_parser(sub)
    >>> p.prog.endswith("policy")
    True
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from modelsec.cli.common import CLIError, add_connection_options, make_client

__all__ = ["STARTER_DATA", "STARTER_YAML", "add_parser"]

STARTER_YAML = """\
# modelsec policy file: one file for the tenant ('modelsec policy apply') and for offline
# scans ('modelsec scan --offline --policy policy.yaml --group ml-local ./model').
# Validate it with 'modelsec policy check policy.yaml'; the JSON Schema is printed by
# 'modelsec policy schema'. YAML needs PyYAML (pip install 'modelsec[yaml]'); the same
# content as JSON works everywhere.
version: 1

# What 'modelsec policy apply --prune' may remove besides what this file names (fnmatch
# patterns of names). Without --prune nothing is ever removed.
scope:
  security_groups: ["ml-*"]
  custom_rules: ["ml-*"]

security_groups:
  # A group per source type you gate: LOCAL, HUGGING_FACE, S3, GCS, AZURE, ARTIFACTORY,
  # GITLAB (or ALL). Rules not listed keep their default state and values.
  ml-local:
    source_type: LOCAL
    description: Models the ML team builds and stores on disk
    rules:
      # A state (BLOCKING, ALLOWING, DISABLED) ...
      Load Time Code Execution Check: BLOCKING
      Runtime Code Execution Check: BLOCKING
      # ... or a state and the rule's field values.
      Stored In Approved File Format:
        state: BLOCKING
        field_values:
          approved_formats: [safetensors, safetensors_index, onnx, gguf, json]
  ml-huggingface:
    source_type: HUGGING_FACE
    description: Models pulled from Hugging Face
    rules:
      License Is Valid For Use:
        state: BLOCKING
        field_values:
          approved_licenses: [apache-2.0, mit, bsd-3-clause]
      Organization Is Blocked:
        state: BLOCKING
        field_values:
          deny_orgs: [some-untrusted-org]
      Model Is Blocked:
        state: BLOCKING
        field_values:
          denied_org_models: ["some-org/known-bad-model"]

custom_rules:
  # Conditions test scan labels (type: label) or another rule's result (type: rule_result,
  # naming the rule), combined with operator: and/or. rule_action FAIL: the rule fails when
  # the condition holds; PASS: it fails when it does not.
  - name: ml-reviewed
    description: Production models need a review label
    compatible_sources: [LOCAL]
    condition: {type: label, key: reviewed, operator: not_exists}
    violation_message: The model has no 'reviewed' label
    remediation_message: Have the model reviewed, then scan it with -l reviewed=yes
    rule_action: FAIL
    groups:          # assignments: group name -> the rule's state there
      ml-local: BLOCKING
"""


def _write(text: str, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    assert output is not None
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise CLIError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _load(path: str) -> Any:
    from modelsec.policy.document import load_document
    from modelsec.policy.policyfile import PolicyFileError

    try:
        return load_document(path)
    except PolicyFileError as exc:
        raise CLIError(f"policy {path}: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"policy {path}: {exc.strerror or exc}") from exc


def _format_of(args: argparse.Namespace) -> str:
    fmt: str | None = args.file_format
    if fmt is None:
        out = getattr(args, "output", None) or ""
        fmt = "json" if out.lower().endswith(".json") else "yaml"
        if fmt == "yaml":
            try:
                import yaml  # noqa: F401
            except ImportError:
                if out:
                    raise CLIError(
                        "YAML needs PyYAML: pip install 'modelsec[yaml]' (or use --format json)"
                    ) from None
                fmt = "json"
    return fmt


# ---------------------------------------------------------------------------------- offline


def _schema(args: argparse.Namespace) -> int:
    from modelsec.policy.document import policy_schema

    _write(json.dumps(policy_schema(), indent=2) + "\n", args.output)
    return 0


def _init(args: argparse.Namespace) -> int:
    target: str | None = args.file
    fmt = args.file_format or ("json" if (target or "").lower().endswith(".json") else "yaml")
    if fmt == "json":
        # JSON holds no comments: the starter's explanations are in the README and the schema.
        from modelsec.policy.document import dump_document

        text = dump_document(STARTER_DATA, "json")
    else:
        text = STARTER_YAML
    if target and os.path.exists(target) and not args.force:
        raise CLIError(f"{target} exists; pass --force to overwrite it")
    _write(text, target)
    if target:
        sys.stderr.write(f"wrote {target}; check it with: modelsec policy check {target}\n")
    return 0


#: The starter's content (``STARTER_YAML`` without its comments; a test keeps them equal).
STARTER_DATA: dict[str, Any] = {
    "version": 1,
    "scope": {"security_groups": ["ml-*"], "custom_rules": ["ml-*"]},
    "security_groups": {
        "ml-local": {
            "source_type": "LOCAL",
            "description": "Models the ML team builds and stores on disk",
            "rules": {
                "Load Time Code Execution Check": "BLOCKING",
                "Runtime Code Execution Check": "BLOCKING",
                "Stored In Approved File Format": {
                    "state": "BLOCKING",
                    "field_values": {
                        "approved_formats": [
                            "safetensors",
                            "safetensors_index",
                            "onnx",
                            "gguf",
                            "json",
                        ]
                    },
                },
            },
        },
        "ml-huggingface": {
            "source_type": "HUGGING_FACE",
            "description": "Models pulled from Hugging Face",
            "rules": {
                "License Is Valid For Use": {
                    "state": "BLOCKING",
                    "field_values": {"approved_licenses": ["apache-2.0", "mit", "bsd-3-clause"]},
                },
                "Organization Is Blocked": {
                    "state": "BLOCKING",
                    "field_values": {"deny_orgs": ["some-untrusted-org"]},
                },
                "Model Is Blocked": {
                    "state": "BLOCKING",
                    "field_values": {"denied_org_models": ["some-org/known-bad-model"]},
                },
            },
        },
    },
    "custom_rules": [
        {
            "name": "ml-reviewed",
            "description": "Production models need a review label",
            "compatible_sources": ["LOCAL"],
            "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
            "violation_message": "The model has no 'reviewed' label",
            "remediation_message": "Have the model reviewed, then scan it with -l reviewed=yes",
            "rule_action": "FAIL",
            "groups": {"ml-local": "BLOCKING"},
        }
    ],
}


def _check(args: argparse.Namespace) -> int:
    doc = _load(args.file)
    groups = ", ".join(g.name for g in doc.groups) or "none"
    sys.stdout.write(
        f"{args.file}: valid ({len(doc.groups)} security groups: {groups}; "
        f"{len(doc.custom_rules)} custom rules)\n"
    )
    return 0


# ---------------------------------------------------------------------------------- online


def _export(args: argparse.Namespace) -> int:
    from modelsec.policy.document import dump_document
    from modelsec.posture import export_policy

    fmt = _format_of(args)

    async def main() -> Any:
        async with make_client(args) as client:
            return await export_policy(client)

    doc = asyncio.run(main())
    _write(dump_document(doc, fmt), args.output)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from modelsec.posture import plan_policy, render_plan

    doc = _load(args.file)

    async def main() -> Any:
        async with make_client(args) as client:
            return await plan_policy(client, doc, prune=args.prune)

    plan = asyncio.run(main())
    if args.format == "json":
        sys.stdout.write(json.dumps(plan.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_plan(plan, show_unchanged=args.show_unchanged) + "\n")
    return 1 if plan.has_changes else 0


def _apply(args: argparse.Namespace) -> int:
    from modelsec.posture import apply_policy, render_plan
    from modelsec.posture.render import render_change

    doc = _load(args.file)
    dry_run = args.dry_run or (not args.yes and sys.stdin.isatty() and sys.stdout.isatty())
    text = args.format == "text"

    def live(ch: Any) -> None:
        if text:
            sys.stdout.write(render_change(ch, applied=True) + "\n")
            sys.stdout.flush()

    async def main() -> Any:
        async with make_client(args) as client:
            return await apply_policy(
                client, doc, prune=args.prune, dry_run=dry_run, on_change=live
            )

    plan = asyncio.run(main())
    if args.format == "json":
        out = plan.to_dict()
        out["dry_run"] = dry_run
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    elif dry_run:
        sys.stdout.write(render_plan(plan, show_unchanged=args.show_unchanged) + "\n")
        if plan.has_changes:
            sys.stdout.write("Dry run: nothing was changed. Pass --yes to apply.\n")
    else:
        summary = render_plan(plan, applied=True).splitlines()
        tail = [line for line in summary if not line.startswith(("+", "~", "-", "!", "?", " "))]
        sys.stdout.write("\n".join(tail) + "\n")
    if dry_run:
        return 0
    return 1 if any(c.status in ("failed", "skipped") for c in plan.pending) else 0


# ---------------------------------------------------------------------------------- parsers


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``modelsec policy`` and its subcommands on the subparsers action ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "policy",
        help="policy as code: export, plan and apply a policy file; init, check, schema",
        description="Keep security groups, rule states and custom rules in one file (YAML or "
        "JSON): 'apply' makes the tenant match it, 'scan --offline --policy FILE --group NAME' "
        "judges models with it offline.",
    )
    ps = p.add_subparsers(title="commands", metavar="COMMAND")

    def needs_sub(args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=needs_sub)

    def fmt_option(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--format",
            dest="file_format",
            choices=("yaml", "json"),
            default=None,
            help="file format (default: from the file name; YAML when PyYAML is installed)",
        )

    q = ps.add_parser("init", help="write a commented starter policy file")
    q.add_argument("file", nargs="?", help="where to write it (default: stdout)")
    q.add_argument("--force", action="store_true", help="overwrite an existing file")
    fmt_option(q)
    q.set_defaults(func=_init)

    q = ps.add_parser("check", help="validate a policy file (no service needed)")
    q.add_argument("file")
    q.set_defaults(func=_check)

    q = ps.add_parser("schema", help="print the policy file's JSON Schema")
    q.add_argument("-o", "--output", metavar="FILE", help="write it to FILE")
    q.set_defaults(func=_schema)

    q = ps.add_parser("export", help="write the tenant's groups, rules and custom rules as a file")
    q.add_argument("-o", "--output", metavar="FILE", help="write it to FILE (default: stdout)")
    fmt_option(q)
    add_connection_options(q)
    q.set_defaults(func=_export)

    for name, func, helptext in (
        ("plan", _plan, "show what apply would change (exit 0: nothing, 1: changes)"),
        ("apply", _apply, "make the tenant match the file"),
    ):
        q = ps.add_parser(name, help=helptext, description=helptext[:1].upper() + helptext[1:])
        q.add_argument("file")
        q.add_argument(
            "--prune",
            action="store_true",
            help="also remove what the file's scope covers but the file does not declare",
        )
        q.add_argument("--format", choices=("text", "json"), default="text", help="report format")
        q.add_argument("--show-unchanged", action="store_true", help="list unchanged resources too")
        if name == "apply":
            q.add_argument(
                "--yes",
                "-y",
                action="store_true",
                help="apply without asking (on a terminal apply is a dry run without it)",
            )
            q.add_argument("--dry-run", action="store_true", help="only show the plan")
        add_connection_options(q)
        q.set_defaults(func=func)
    return p
