"""The policy file: one document that gates offline scans and configures a tenant.

A superset of the ``--policy`` file of :mod:`modelsec.policy.policyfile`. JSON always, YAML
when PyYAML is installed (``pip install 'modelsec[yaml]'``); the JSON Schema ships as
``modelsec/policy/policy.schema.json`` (``modelsec policy schema``)::

    version: 1
    scope:                          # what 'apply --prune' may remove (default: what is named here)
      security_groups: ["ml-*"]     # fnmatch patterns of group names
      custom_rules: ["ml-*"]
    security_groups:
      ml-local:                     # groups by name
        source_type: LOCAL
        description: Models built by the ML team
        rules:                      # rules not named keep their default state and values
          Load Time Code Execution Check: BLOCKING
          Stored In Approved File Format:
            state: BLOCKING
            field_values: {approved_formats: [safetensors, onnx]}
    custom_rules:
      - name: Reviewed
        compatible_sources: [LOCAL]
        condition: {type: label, key: reviewed, operator: not_exists}
        violation_message: Model has not been reviewed
        groups: {ml-local: BLOCKING}  # assignments, with the state in each group

The top-level ``rules`` and field keys (``approved_formats`` ...) of the original format are a
base layer under every group of the file (a group's own value wins) and, without a group, the
offline policy. A ``rule_result`` condition names its rule (``rule: License Exists``) instead of
a UUID, so one file fits every tenant. Unknown keys, rules, states or fields are errors.

This module reads and writes the file; the parsed document and what it means live in
:mod:`modelsec.policy.document_model`, the checks of raw input in
:mod:`modelsec.policy.document_parse`. Every name is importable from here.

Example:
    >>> try:
    ...     load_document({"security_groups": {"ml": {"source_type": "LOCAL",
    ...         "rules": {"License Exists": "ALLOWING"}}}})
    ... except PolicyFileError as exc:
    ...     print(exc)
    security_groups.ml.rules: rule 'License Exists' does not apply to LOCAL groups
    >>> doc = load_document({"security_groups": {"ml": {"source_type": "LOCAL",
    ...     "approved_formats": ["onnx"]}}})
    >>> doc.policy("ml").rule_instances("LOCAL")[5].value("approved_formats")
    ['onnx']
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from modelsec.policy.document_model import (
    CustomRuleSpec,
    GroupSpec,
    PolicyDocument,
    RuleSpec,
    offline_custom_uuid,
)
from modelsec.policy.document_parse import GROUP_SOURCE_TYPES as GROUP_SOURCE_TYPES
from modelsec.policy.document_parse import STATES as STATES
from modelsec.policy.document_parse import parse_document
from modelsec.policy.policyfile import PolicyFileError

__all__ = [
    "SCHEMA_PATH",
    "CustomRuleSpec",
    "GroupSpec",
    "PolicyDocument",
    "RuleSpec",
    "dump_document",
    "load_document",
    "offline_custom_uuid",
    "parse_document",
    "policy_schema",
]

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "policy.schema.json")


def _is_yaml_name(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise PolicyFileError(
            "YAML policy files need PyYAML: pip install 'modelsec[yaml]' (or use JSON)"
        ) from None
    return yaml


def load_document(source: str | os.PathLike[str] | Mapping[str, Any]) -> PolicyDocument:
    """Read a policy file (``.json``; ``.yaml``/``.yml`` with PyYAML) or check a mapping.

    Example:
        >>> load_document({"rules": {"License Exists": "DISABLED"}}).base["License Exists"].state
        'DISABLED'
    """
    if isinstance(source, Mapping):
        return parse_document(source)
    path = os.fspath(source)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if _is_yaml_name(path):
        yaml = _yaml()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyFileError(f"{path}: invalid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyFileError(f"{path}: invalid JSON: {exc}") from exc
    return parse_document(data)


def dump_document(doc: PolicyDocument | Mapping[str, Any], fmt: str = "yaml") -> str:
    """The file text of ``doc`` in ``fmt`` (``json`` or ``yaml``), canonical order.

    Example:
        >>> print(dump_document(parse_document({"rules": {"License Exists": "DISABLED"}}),
        ...     "json"))  # doctest: +ELLIPSIS
        {
          "version": 1,
          "rules": {
            "License Exists": "DISABLED"
          },
        ...
    """
    data = doc.to_dict() if isinstance(doc, PolicyDocument) else dict(doc)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown policy file format {fmt!r} (json or yaml)")
    yaml = _yaml()
    header = "# modelsec policy file (schema: 'modelsec policy schema')\n"
    body: str = yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
    return header + body


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file (the file shipped in the package).

    Example:
        >>> policy_schema()["title"]
        'modelsec policy file'
    """
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data
