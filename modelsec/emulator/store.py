"""The emulator's in-memory store: tenants and their objects, rendered to wire dicts.

Everything is plain dataclasses and dicts built per the specs (never ``modelsec.types``).

Example:
    >>> s = Store()
    >>> t = s.tenant("1234567890")
    >>> sorted(g.name for g in t.groups.values())[:2]
    ['Default ARTIFACTORY', 'Default AZURE']
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import uuid as _uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import ALL_SOURCE_TYPES, BUILTIN_RULES, SecurityRule, rule_by_uuid

__all__ = [
    "CustomRule",
    "Group",
    "Model",
    "ModelVersion",
    "RuleInst",
    "Scan",
    "Store",
    "TenantStore",
    "iso",
    "utcnow",
]

_seq = itertools.count(1)


def utcnow() -> _dt.datetime:
    """Aware UTC now."""
    return _dt.datetime.now(_dt.timezone.utc)


def iso(d: _dt.datetime | None) -> str | None:
    """pydantic-style UTC rendering (``...Z``)."""
    if d is None:
        return None
    return d.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def new_uuid() -> str:
    """A random UUID string."""
    return str(_uuid.uuid4())


@dataclass
class Group:
    """A security group."""

    uuid: str
    tsg_id: str
    name: str
    description: str
    source_type: str
    active_at: _dt.datetime
    created_at: _dt.datetime = field(default_factory=utcnow)
    updated_at: _dt.datetime = field(default_factory=utcnow)
    is_tombstone: bool = False
    is_default: bool = False
    seq: int = field(default_factory=lambda: next(_seq))
    versions: list[tuple[int, _dt.datetime]] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``PENDING`` until ``active_at``, then ``ACTIVE``."""
        return "ACTIVE" if utcnow() >= self.active_at else "PENDING"

    def bump(self) -> None:
        """Record a new rule-instance snapshot generation."""
        self.versions.append((len(self.versions) + 1, utcnow()))

    def wire(self) -> dict[str, Any]:
        """``ModelSecurityGroupResponseSchema``."""
        return {
            "uuid": self.uuid,
            "tsg_id": self.tsg_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "name": self.name,
            "description": self.description,
            "source_type": self.source_type,
            "state": self.state,
            "is_tombstone": self.is_tombstone,
        }


@dataclass
class RuleInst:
    """A rule instance of a group."""

    uuid: str
    tsg_id: str
    group_uuid: str
    rule: SecurityRule
    state: str
    field_values: dict[str, list[str]]
    created_at: _dt.datetime = field(default_factory=utcnow)
    updated_at: _dt.datetime = field(default_factory=utcnow)

    def wire(self) -> dict[str, Any]:
        """``ModelSecurityRuleInstanceResponseSchema``."""
        return {
            "uuid": self.uuid,
            "tsg_id": self.tsg_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "security_group_uuid": self.group_uuid,
            "security_rule_uuid": self.rule.uuid,
            "state": self.state,
            "rule": self.rule.to_dict(),
            "field_values": {k: list(v) for k, v in self.field_values.items()},
        }


@dataclass
class CustomRule:
    """A tenant's custom rule and its group assignments."""

    uuid: str
    tsg_id: str
    data: dict[str, Any]
    created_by: str | None
    created_at: _dt.datetime = field(default_factory=utcnow)
    updated_at: _dt.datetime = field(default_factory=utcnow)
    updated_by: str | None = None
    is_archived: bool = False
    # group uuid -> (rule instance uuid, state)
    assignments: dict[str, tuple[str, str]] = field(default_factory=dict)
    seq: int = field(default_factory=lambda: next(_seq))

    def wire(self, *, list_item: bool = False) -> dict[str, Any]:
        """``CustomRuleResponse`` (``CustomRuleListItem`` with ``list_item``)."""
        d = {
            "uuid": self.uuid,
            "tsg_id": self.tsg_id,
            "name": self.data["name"],
            "description": self.data.get("description") or "",
            "compatible_sources": list(self.data["compatible_sources"]),
            "condition": self.data.get("condition"),
            "violation_message": self.data["violation_message"],
            "remediation_message": self.data.get("remediation_message"),
            "rule_action": self.data.get("rule_action") or "FAIL",
            "is_archived": self.is_archived,
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if list_item:
            d["enabled_security_group_count"] = sum(
                1 for _, st in self.assignments.values() if st != "DISABLED"
            )
        return d


@dataclass
class Scan:
    """A scan and everything it produced."""

    uuid: str
    tsg_id: str
    request: dict[str, Any]
    group_uuid: str
    group_name: str
    source_type: str
    owner: str
    created_by: str | None
    labels: dict[str, str]
    enabled_rule_count: int
    created_at: _dt.datetime = field(default_factory=utcnow)
    updated_at: _dt.datetime = field(default_factory=utcnow)
    eval_outcome: str = "PENDING"
    error_code: str | None = None
    error_message: str | None = None
    eval_summary: dict[str, int] | None = None
    details: dict[str, Any] | None = None
    model_version_uuid: str | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    seq: int = field(default_factory=lambda: next(_seq))

    @property
    def model_uri(self) -> str:
        """The scanned URI."""
        return str(self.request["model_uri"])

    def wire(self) -> dict[str, Any]:
        """``ScanBaseResponseSchema``."""
        d = self.details or {}
        return {
            "uuid": self.uuid,
            "tsg_id": self.tsg_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "model_uri": self.model_uri,
            "owner": self.owner,
            "scan_origin": self.request.get("scan_origin") or "MODEL_SECURITY_API",
            "security_group_uuid": self.group_uuid,
            "security_group_name": self.group_name,
            "eval_outcome": self.eval_outcome,
            "source_type": self.source_type,
            "created_by": self.created_by,
            "enabled_rule_count_snapshot": self.enabled_rule_count,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "eval_summary": dict(self.eval_summary) if self.eval_summary else None,
            "labels": [{"key": k, "value": v} for k, v in self.labels.items()],
            "model_formats": list(d["model_formats"]) if "model_formats" in d else None,
            "model_version_uuid": self.model_version_uuid,
            "scanner_version": d.get("scanner_version"),
            "time_started": d.get("time_started"),
            "total_files_scanned": d.get("total_files_scanned"),
            "total_files_skipped": d.get("total_files_skipped"),
        }


@dataclass
class ModelVersion:
    """A version of a model in the inventory."""

    uuid: str
    tsg_id: str
    model_uuid: str
    revision: str
    fields: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    created_at: _dt.datetime = field(default_factory=utcnow)
    updated_at: _dt.datetime = field(default_factory=utcnow)
    seq: int = field(default_factory=lambda: next(_seq))

    def wire(self) -> dict[str, Any]:
        """``ModelVersionResponseSchema``."""
        return {
            "uuid": self.uuid,
            "tsg_id": self.tsg_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "revision": self.revision,
            "model_uuid": self.model_uuid,
            **self.fields,
        }


@dataclass
class Model:
    """A model in the inventory."""

    uuid: str
    tsg_id: str
    name: str
    versions: list[str] = field(default_factory=list)
    latest: str | None = None
    created_at: _dt.datetime = field(default_factory=utcnow)
    updated_at: _dt.datetime = field(default_factory=utcnow)
    seq: int = field(default_factory=lambda: next(_seq))


@dataclass
class TenantStore:
    """Every object of one tenant (TSG)."""

    tsg_id: str
    groups: dict[str, Group] = field(default_factory=dict)
    rule_instances: dict[str, RuleInst] = field(default_factory=dict)
    scans: dict[str, Scan] = field(default_factory=dict)
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    model_versions: dict[str, ModelVersion] = field(default_factory=dict)
    custom_rules: dict[str, CustomRule] = field(default_factory=dict)
    custom_rule_versions: list[tuple[int, _dt.datetime]] = field(default_factory=list)

    def group_rule_instances(self, group_uuid: str) -> list[RuleInst]:
        """The rule instances of a group in catalog order."""
        order = {r.uuid: i for i, r in enumerate(BUILTIN_RULES)}
        out = [ri for ri in self.rule_instances.values() if ri.group_uuid == group_uuid]
        return sorted(out, key=lambda ri: order.get(ri.rule.uuid, 99))

    def add_group(
        self,
        name: str,
        source_type: str,
        description: str = "",
        *,
        active_at: _dt.datetime | None = None,
        uuid: str | None = None,
        is_default: bool = False,
        rule_configurations: dict[str, Any] | None = None,
    ) -> Group:
        """Create a group with one rule instance per compatible built-in rule."""
        now = utcnow()
        g = Group(
            uuid=uuid or new_uuid(),
            tsg_id=self.tsg_id,
            name=name,
            description=description,
            source_type=source_type,
            active_at=active_at or now,
            is_default=is_default,
        )
        self.groups[g.uuid] = g
        confs = {k.lower(): v for k, v in (rule_configurations or {}).items()}
        for rule in BUILTIN_RULES:
            if not rule.applies_to(source_type):
                continue
            conf = confs.get(rule.uuid) or {}
            fv = rule.default_field_values()
            for k, v in (conf.get("field_values") or {}).items():
                fv[k] = [str(x) for x in v]
            ri = RuleInst(
                uuid=new_uuid(),
                tsg_id=self.tsg_id,
                group_uuid=g.uuid,
                rule=rule,
                state=conf.get("state") or rule.default_state,
                field_values=fv,
            )
            self.rule_instances[ri.uuid] = ri
        g.bump()
        return g

    def bump_custom_rules(self) -> None:
        """Record a new custom-rule snapshot generation."""
        self.custom_rule_versions.append((len(self.custom_rule_versions) + 1, utcnow()))


def _default_group_uuid(tsg_id: str, source_type: str) -> str:
    return str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"modelsec-emulator:{tsg_id}:{source_type}"))


class Store:
    """All tenants; a tenant's default groups are created on first use.

    ``store.scans`` etc. give read access across tenants (tests assert "exactly one scan").
    """

    def __init__(self) -> None:
        self.tenants: dict[str, TenantStore] = {}
        self.started_at = utcnow()

    def tenant(self, tsg_id: str) -> TenantStore:
        """The tenant, created with its ``Default <SOURCE>`` groups if new."""
        t = self.tenants.get(tsg_id)
        if t is None:
            t = TenantStore(tsg_id)
            for st in ALL_SOURCE_TYPES:
                t.add_group(
                    f"Default {st}",
                    st,
                    f"Default security group for {st} models",
                    uuid=_default_group_uuid(tsg_id, st),
                    is_default=True,
                    active_at=self.started_at,
                )
            self.tenants[tsg_id] = t
        return t

    def _all(self, attr: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in self.tenants.values():
            out.update(getattr(t, attr))
        return out

    @property
    def scans(self) -> dict[str, Scan]:
        """Every scan of every tenant by uuid."""
        return self._all("scans")

    @property
    def groups(self) -> dict[str, Group]:
        """Every group of every tenant by uuid."""
        return self._all("groups")

    @property
    def custom_rules(self) -> dict[str, CustomRule]:
        """Every custom rule of every tenant by uuid."""
        return self._all("custom_rules")

    def iter_scans(self, tsg_id: str | None = None) -> Iterator[Scan]:
        """Scans of one tenant (or all)."""
        for t in self.tenants.values():
            if tsg_id is None or t.tsg_id == tsg_id:
                yield from t.scans.values()


def fingerprint(files: list[dict[str, Any]]) -> str:
    """A stable fingerprint of a file set (path + sha256)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: str(f.get("file_path"))):
        h.update(f"{f.get('file_path')}\0{f.get('sha256') or f.get('blob_id')}\n".encode())
    return h.hexdigest()


def rule_for(uuid: str) -> SecurityRule | None:
    """Built-in rule by uuid."""
    return rule_by_uuid(uuid)
