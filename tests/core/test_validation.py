"""Bad arguments fail with PayloadError before any request is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient, PayloadError
from modelsec.errors import ErrorType
from tests.core import samples as s
from tests.core.conftest import FakeAPI

BAD: list[tuple[str, Callable[[AsyncModelSecurityClient], Awaitable[Any]], str]] = [
    ("bad uuid", lambda c: c.scans.get("not-a-uuid"), "uuid is not a valid UUID"),
    ("uuid type", lambda c: c.scans.get(123), "must be a UUID string"),
    (
        "limit 0",
        lambda c: c.scans.list(limit=0).first_page(),
        "limit must be an integer between 1 and 100",
    ),
    ("limit 101", lambda c: c.scans.list(limit=101).first_page(), "between 1 and 100"),
    ("limit bool", lambda c: c.scans.list(limit=True).first_page(), "limit"),
    ("skip -1", lambda c: c.scans.list(skip=-1).first_page(), "skip must be an integer >= 0"),
    (
        "data search 257",
        lambda c: c.scans.list(search_query="x" * 257).first_page(),
        "search_query must be 0..256",
    ),
    (
        "mgmt search 2",
        lambda c: c.security_groups.list(search_query="ab").first_page(),
        "search_query must be 3..1000",
    ),
    (
        "mgmt search 1001",
        lambda c: c.security_rules.list(search_query="a" * 1001).first_page(),
        "3..1000",
    ),
    (
        "labels_query 4097",
        lambda c: c.scans.list(labels_query="a" * 4097).first_page(),
        "labels_query",
    ),
    (
        "label key chars",
        lambda c: c.scans.add_labels(s.U1, {"bad key": "v"}),
        "label key may only contain",
    ),
    (
        "label value long",
        lambda c: c.scans.add_labels(s.U1, {"k": "v" * 257}),
        "label value must be 1..256",
    ),
    (
        "label key long",
        lambda c: c.scans.add_labels(s.U1, {"k" * 129: "v"}),
        "label key must be 1..128",
    ),
    ("empty labels", lambda c: c.scans.set_labels(s.U1, {}), "at least one label"),
    (
        "51 labels",
        lambda c: c.scans.add_labels(s.U1, {f"k{i}": "v" for i in range(51)}),
        "at most 50 labels",
    ),
    ("labels str", lambda c: c.scans.add_labels(s.U1, "team=ml"), "labels must be"),
    ("no keys", lambda c: c.scans.delete_labels(s.U1, []), "give 1..50 label keys"),
    ("51 keys", lambda c: c.scans.delete_labels(s.U1, [f"k{i}" for i in range(51)]), "1..50"),
    (
        "bad enum",
        lambda c: c.scans.list(sort_order="sideways").first_page(),
        "sort_order must be one of asc, desc",
    ),
    ("source_types str", lambda c: c.scans.list(source_types="S3").first_page(), "must be a list"),
    (
        "create empty uri",
        lambda c: c.scans.create(model_uri="", security_group_uuid=s.U2),
        "model_uri",
    ),
    (
        "create bad group",
        lambda c: c.scans.create(model_uri="hf://a/b", security_group_uuid="x"),
        "security_group_uuid",
    ),
    (
        "group name empty",
        lambda c: c.security_groups.create(name="", source_type="LOCAL"),
        "name must be 1..255",
    ),
    (
        "group source",
        lambda c: c.security_groups.create(name="g", source_type="FTP"),
        "source_type must be one of",
    ),
    (
        "rule config key",
        lambda c: c.security_groups.create(
            name="g", source_type="LOCAL", rule_configurations={"x": {}}
        ),
        "rule_configurations key",
    ),
    ("update nothing", lambda c: c.security_groups.update(s.U1), "give name= or description="),
    (
        "ri update nothing",
        lambda c: c.security_groups.update_rule_instance(s.U1, s.U2),
        "give state= or field_values=",
    ),
    (
        "ri bad state",
        lambda c: c.security_groups.update_rule_instance(s.U1, s.U2, state="LOUD"),
        "state must be one of",
    ),
    (
        "ri fv str",
        lambda c: c.security_groups.update_rule_instance(
            s.U1, s.U2, field_values={"approved_formats": "onnx"}
        ),
        "must be a list",
    ),
    (
        "custom cond",
        lambda c: c.custom_rules.create(
            name="n",
            compatible_sources=["LOCAL"],
            condition={"type": "weird"},
            violation_message="m",
        ),
        "invalid custom-rule condition",
    ),
    (
        "custom compound",
        lambda c: c.custom_rules.create(
            name="n",
            compatible_sources=["LOCAL"],
            condition={
                "operator": "and",
                "conditions": [{"type": "label", "key": "a", "operator": "exists"}],
            },
            violation_message="m",
        ),
        "at least two",
    ),
    (
        "custom no sources",
        lambda c: c.custom_rules.create(
            name="n",
            compatible_sources=[],
            condition={"type": "label", "key": "a", "operator": "exists"},
            violation_message="m",
        ),
        "compatible_sources",
    ),
    ("assign 0", lambda c: c.custom_rules.assign_security_groups(s.U1, {}), "assign 1..50"),
    (
        "assign 51",
        lambda c: c.custom_rules.assign_security_groups(
            s.U1, {f"{i:08d}-1111-4111-8111-111111111111": "BLOCKING" for i in range(51)}
        ),
        "assign 1..50",
    ),
    (
        "label value path",
        lambda c: c.scans.get_label_values("a/b").first_page(),
        "key may only contain",
    ),
    (
        "too many files",
        lambda c: c.scans.create(
            model_uri="/m", security_group_uuid=s.U2, scan_details={"files": [{}] * 1001}
        ),
        "at most 1000 files",
    ),
]


@pytest.mark.parametrize(("name", "op", "message"), BAD, ids=[b[0] for b in BAD])
async def test_invalid_arguments_fail_before_any_request(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, name: str, op: Any, message: str
) -> None:
    with pytest.raises(PayloadError, match=message.replace("(", r"\(").replace(".", r"\.")) as info:
        await op(client)
    assert info.value.error_type is ErrorType.USER_REQUEST_PAYLOAD_ERROR
    assert fake_api.calls == []
    assert fake_api.token_calls == []


async def test_uuid_is_canonicalised(client: AsyncModelSecurityClient, fake_api: FakeAPI) -> None:
    from tests.core.conftest import DATA

    fake_api.route("GET", f"{DATA}/v1/scans/{s.U1}", payload=s.scan())
    await client.scans.get(s.U1.upper())
    assert fake_api.calls[0].url.endswith(s.U1)
