"""export / plan / apply against the emulator: round trip, idempotence, prune scope, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.emulator import Emulator, Faults
from modelsec.policy.catalog import rule_by_name
from modelsec.policy.document import dump_document, parse_document
from modelsec.policy.policyfile import PolicyFileError
from modelsec.posture import apply_policy, export_policy, plan_policy, render_plan

LOAD = "Load Time Code Execution Check"
FORMATS = "Stored In Approved File Format"


async def _group(client: AsyncModelSecurityClient, name: str) -> Any:
    async for g in client.security_groups.list():
        if g.name == name:
            return g
    return None


async def _instance(client: AsyncModelSecurityClient, group_uuid: str, rule: str) -> Any:
    async for ri in client.security_groups.list_rule_instances(group_uuid):
        if ri.rule.name == rule:
            return ri
    raise AssertionError(rule)


async def configure_by_hand(client: AsyncModelSecurityClient) -> None:
    """A tenant set up call by call, as before policy as code."""
    g = await client.security_groups.create(
        name="ml-local", source_type="LOCAL", description="ML team, on disk"
    )
    ri = await _instance(client, g.uuid, FORMATS)
    await client.security_groups.update_rule_instance(
        g.uuid, ri.uuid, state="ALLOWING", field_values={"approved_formats": ["onnx", "gguf"]}
    )
    hf = await client.security_groups.create(name="ml-hf", source_type="HUGGING_FACE")
    ri = await _instance(client, hf.uuid, "Organization Is Blocked")
    await client.security_groups.update_rule_instance(
        hf.uuid, ri.uuid, field_values={"deny_orgs": ["evil-org"]}
    )
    reviewed = await client.custom_rules.create(
        name="ml-reviewed",
        compatible_sources=["LOCAL"],
        condition={"type": "label", "key": "reviewed", "operator": "not_exists"},
        violation_message="not reviewed",
        remediation_message="review it",
    )
    await client.custom_rules.assign_security_groups(reviewed.uuid, {g.uuid: "BLOCKING"})
    chained = await client.custom_rules.create(
        name="ml-chained",
        compatible_sources=["ALL"],
        condition={
            "operator": "and",
            "conditions": [
                {"type": "rule_result", "rule_uuid": rule_by_name(LOAD).uuid, "value": "FAILED"},
                {"type": "rule_result", "rule_uuid": reviewed.uuid, "value": "PASSED"},
            ],
        },
        violation_message="reviewed but unsafe",
        rule_action="FAIL",
    )
    await client.custom_rules.assign_security_groups(
        chained.uuid, {g.uuid: "ALLOWING", hf.uuid: "BLOCKING"}
    )
    old = await client.custom_rules.create(
        name="ml-old",
        compatible_sources=["LOCAL"],
        condition={"type": "label", "key": "legacy", "operator": "exists"},
        violation_message="legacy",
    )
    await client.custom_rules.archive(old.uuid)


async def test_export_apply_export_round_trips(
    client: AsyncModelSecurityClient, client_b: AsyncModelSecurityClient
) -> None:
    await configure_by_hand(client)
    exported = await export_policy(client)
    text = dump_document(exported, "yaml")
    # names, not UUIDs; the chained condition names both rules
    assert "ml-reviewed" in text and rule_by_name(LOAD).uuid not in text
    chained = next(c for c in exported.custom_rules if c.name == "ml-chained")
    assert [c["rule"] for c in chained.condition["conditions"]] == [LOAD, "ml-reviewed"]
    assert chained.groups == {"ml-local": "ALLOWING", "ml-hf": "BLOCKING"}

    doc = parse_document(exported.to_dict())  # what a reader of the file gets
    plan = await plan_policy(client_b, doc)
    assert plan.has_changes
    applied = await apply_policy(client_b, doc)
    assert [c for c in applied.pending if c.status != "applied"] == []
    again = dump_document(await export_policy(client_b), "yaml")
    assert again == text
    # and the JSON form round-trips as well
    assert dump_document(await export_policy(client_b), "json") == dump_document(exported, "json")


POLICY: dict[str, Any] = {
    "version": 1,
    "scope": {"security_groups": ["ml-*"], "custom_rules": ["ml-*"]},
    "security_groups": {
        "ml-local": {
            "source_type": "LOCAL",
            "description": "on disk",
            "rules": {
                FORMATS: {"state": "BLOCKING", "field_values": {"approved_formats": ["onnx"]}}
            },
        },
    },
    "custom_rules": [
        {
            "name": "ml-reviewed",
            "compatible_sources": ["LOCAL"],
            "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
            "violation_message": "not reviewed",
            "groups": {"ml-local": "BLOCKING"},
        }
    ],
}


async def test_plan_apply_idempotent(client: AsyncModelSecurityClient) -> None:
    doc = parse_document(POLICY)
    plan = await plan_policy(client, doc)
    assert [str(c) for c in plan.pending] == [
        "create group 'ml-local'",
        "create custom rule 'ml-reviewed'",
        "assign custom rule 'ml-reviewed' in group 'ml-local'",
    ]
    dry = await apply_policy(client, doc, dry_run=True)
    assert await _group(client, "ml-local") is None and dry.has_changes
    applied = await apply_policy(client, doc)
    assert {c.status for c in applied.pending} == {"applied"}
    g = await _group(client, "ml-local")
    ri = await _instance(client, g.uuid, FORMATS)
    assert ri.field_values["approved_formats"] == ["onnx"]
    assert not (await plan_policy(client, doc)).has_changes
    second = await apply_policy(client, doc)
    assert second.pending == []
    assert "Nothing to do" in render_plan(second, applied=True)

    # drift by hand -> a field-level difference, and apply repairs it
    await client.security_groups.update_rule_instance(
        g.uuid, ri.uuid, state="DISABLED", field_values={"approved_formats": ["onnx", "pickle"]}
    )
    drift = await plan_policy(client, doc)
    [change] = drift.pending
    assert str(change) == f"update rule '{FORMATS}' in group 'ml-local'"
    assert change.diff == {
        "state": ("DISABLED", "BLOCKING"),
        "approved_formats": (["onnx", "pickle"], ["onnx"]),
    }
    text = render_plan(drift)
    assert "state: DISABLED -> BLOCKING" in text and "approved_formats: -pickle" in text
    await apply_policy(client, doc)
    assert not (await plan_policy(client, doc)).has_changes

    # a rule the file does not name goes back to its default
    ri = await _instance(client, g.uuid, LOAD)
    await client.security_groups.update_rule_instance(g.uuid, ri.uuid, state="ALLOWING")
    [change] = (await plan_policy(client, doc)).pending
    assert change.rule == LOAD and change.diff == {"state": ("ALLOWING", "BLOCKING")}


async def test_prune_only_what_the_scope_covers(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    doc = parse_document(POLICY)
    await apply_policy(client, doc)
    stale = await client.security_groups.create(name="ml-stale", source_type="LOCAL")
    other = await client.security_groups.create(name="other-team", source_type="LOCAL")
    local = await _group(client, "ml-local")
    default = await _group(client, "Default LOCAL")
    stray = await client.custom_rules.create(
        name="ml-stray",
        compatible_sources=["ALL"],
        condition={"type": "label", "key": "x", "operator": "exists"},
        violation_message="x",
    )
    foreign = await client.custom_rules.create(
        name="other-rule",
        compatible_sources=["ALL"],
        condition={"type": "label", "key": "y", "operator": "exists"},
        violation_message="y",
    )
    # the file's rule assigned elsewhere, a foreign rule assigned to the file's group
    [reviewed] = [c async for c in client.custom_rules.list() if c.name == "ml-reviewed"]
    await client.custom_rules.assign_security_groups(reviewed.uuid, {other.uuid: "ALLOWING"})
    await client.custom_rules.assign_security_groups(
        foreign.uuid, {local.uuid: "BLOCKING", default.uuid: "BLOCKING"}
    )

    plan = await plan_policy(client, doc)
    assert not plan.has_changes  # nothing is removed without --prune
    assert sorted(str(c) for c in plan.changes if c.action == "extra") == [
        "extra custom rule 'ml-reviewed' in group 'other-team'",
        "extra custom rule 'ml-stray'",
        "extra custom rule 'other-rule' in group 'ml-local'",
        "extra group 'ml-stale'",
    ]
    assert not (await apply_policy(client, doc)).pending
    assert (await client.security_groups.get(stale.uuid)).is_tombstone is False

    pruned = await apply_policy(client, doc, prune=True)
    assert sorted(str(c) for c in pruned.pending) == [
        "archive custom rule 'ml-stray'",
        "delete group 'ml-stale'",
        "unassign custom rule 'ml-reviewed' in group 'other-team'",
        "unassign custom rule 'other-rule' in group 'ml-local'",
    ]
    assert {c.status for c in pruned.pending} == {"applied"}
    assert (await client.security_groups.get(stale.uuid)).is_tombstone is True
    assert (await client.security_groups.get(other.uuid)).is_tombstone is False
    assert (await client.custom_rules.get(stray.uuid)).is_archived is True
    assert (await client.custom_rules.get(foreign.uuid)).is_archived is False
    # out of scope: the foreign rule stays on the Default group
    left = [g.name async for g in client.custom_rules.list_security_groups(foreign.uuid)]
    assert left == ["Default LOCAL"]
    assert not (await plan_policy(client, doc, prune=True)).has_changes


async def test_partial_failure_reports_and_rerun_completes(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    doc = parse_document(
        {
            **POLICY,
            "security_groups": {
                **POLICY["security_groups"],
                "ml-s3": {"source_type": "S3", "rules": {LOAD: "ALLOWING"}},
            },
        }
    )
    # The custom rule's creation fails with a 500 (never retried: it may have acted) and the
    # second group's creation drops the connection after the server created the group.
    emulator.faults = Faults(
        script=["ok", "reset_after", 500],
        methods=["POST"],
        paths=["/v1/security-groups", "/v1/custom-rules"],
    )
    plan = await apply_policy(client, doc)
    status = {str(c): c.status for c in plan.pending}
    assert status == {
        "create group 'ml-local'": "applied",
        "create group 'ml-s3'": "failed",
        "create custom rule 'ml-reviewed'": "failed",
        "assign custom rule 'ml-reviewed' in group 'ml-local'": "skipped",
    }
    # ... though the server did create it
    assert await _group(client, "ml-s3") is not None
    skipped = next(c for c in plan.pending if c.status == "skipped")
    assert skipped.error == "custom rule 'ml-reviewed' was not created"
    text = render_plan(plan, applied=True)
    assert "failed" in text and "run it again" in text

    emulator.faults = None
    rerun = await apply_policy(client, doc)
    assert {c.status for c in rerun.pending} == {"applied"}
    # the group created behind the dropped connection is found by name, not duplicated
    names = [g.name async for g in client.security_groups.list()]
    assert names.count("ml-s3") == 1 and names.count("ml-local") == 1
    assert not (await plan_policy(client, doc)).has_changes


async def test_conflicts_fail_without_touching_the_rest(client: AsyncModelSecurityClient) -> None:
    await client.security_groups.create(name="ml-local", source_type="S3")
    plan = await apply_policy(client, parse_document(POLICY))
    by = {str(c): (c.status, c.error) for c in plan.pending}
    assert by["conflict group 'ml-local'"][0] == "failed"
    assert "source type cannot change" in str(by["conflict group 'ml-local'"][1])
    assert by["create custom rule 'ml-reviewed'"] == ("applied", None)
    assert by["assign custom rule 'ml-reviewed' in group 'ml-local'"][0] == "skipped"


def test_sync_twins(tmp_path: Path) -> None:
    from modelsec import ModelSecurityClient
    from modelsec.emulator import EmulatorThread
    from modelsec.posture import sync

    doc = parse_document(POLICY)
    with (
        EmulatorThread(port=0, settle_delay=0.02, activation_delay=0.0, hub=tmp_path) as emu,
        ModelSecurityClient(**emu.client_kwargs()) as c,
    ):
        assert sync.plan_policy(c, doc).has_changes
        seen: list[str] = []
        applied = sync.apply_policy(c, doc, on_change=lambda ch: seen.append(str(ch)))
        assert {ch.status for ch in applied.pending} == {"applied"} and len(seen) == 3
        assert not sync.plan_policy(c, doc).has_changes
        assert [g.name for g in sync.export_policy(c).groups].count("ml-local") == 1


def test_a_field_the_service_leaves_out_is_its_default() -> None:
    from modelsec.policy.catalog import rules_for_source
    from modelsec.posture import compute_plan
    from modelsec.posture.tenant import TenantGroup, TenantRule, TenantState, document_from_state

    state = TenantState()
    for r in rules_for_source("LOCAL"):
        state.rules[r.name] = TenantRule(
            r.uuid, r.name, r.default_state, r.default_field_values(), list(r.compatible_sources)
        )
    g = TenantGroup(uuid="g1", name="ml-local", source_type="LOCAL", description="")
    # an instance without field values: the service's way of saying "the defaults"
    g.instances = {
        r.name: (f"ri-{i}", r.default_state, {}) for i, r in enumerate(rules_for_source("LOCAL"))
    }
    state.groups.append(g)
    doc = parse_document({"security_groups": {"ml-local": {"source_type": "LOCAL"}}})
    assert not compute_plan(doc, state).has_changes
    exported = document_from_state(state).groups[0].rules[FORMATS]
    assert exported.field_values["approved_formats"] == list(
        rule_by_name(FORMATS).default_values["approved_formats"]
    )
    doc = parse_document(
        {"security_groups": {"ml-local": {"source_type": "LOCAL", "approved_formats": ["onnx"]}}}
    )
    [change] = compute_plan(doc, state).pending
    assert change.diff["approved_formats"][1] == ["onnx"]


async def test_a_rejected_assignment_is_a_failure(client: AsyncModelSecurityClient) -> None:
    # The service answers 207 with a per-group error: the rule does not fit the group's source
    # (a group of the tenant the file does not declare, so the file cannot tell beforehand).
    doc = parse_document(
        {
            "custom_rules": [
                {
                    "name": "ml-local-only",
                    "compatible_sources": ["LOCAL"],
                    "condition": {"type": "label", "key": "k", "operator": "exists"},
                    "groups": {"Default HUGGING_FACE": "BLOCKING", "No Such Group": "BLOCKING"},
                }
            ],
        }
    )
    plan = await apply_policy(client, doc)
    by = {c.group: c for c in plan.pending if c.kind == "assignment"}
    assert by["Default HUGGING_FACE"].status == "failed"
    assert "not compatible with source type HUGGING_FACE" in str(by["Default HUGGING_FACE"].error)
    assert by["No Such Group"].status == "skipped"
    assert by["No Such Group"].error == "the tenant has no group 'No Such Group'"
    assert (await plan_policy(client, doc)).has_changes
    # the file itself says so when it declares the group
    with pytest.raises(
        PolicyFileError, match="applies to LOCAL, not to HUGGING_FACE group 'ml-hf'"
    ):
        parse_document(
            {
                "security_groups": {"ml-hf": {"source_type": "HUGGING_FACE"}},
                "custom_rules": [
                    {
                        "name": "x",
                        "compatible_sources": ["LOCAL"],
                        "condition": {"type": "label", "key": "k", "operator": "exists"},
                        "groups": {"ml-hf": "BLOCKING"},
                    }
                ],
            }
        )
