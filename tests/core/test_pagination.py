"""Pagination walks every page, stops on a short page, never trusts total_items."""

from __future__ import annotations

import pytest

from modelsec import AsyncModelSecurityClient
from tests.core import samples as s
from tests.core.conftest import DATA, MGMT, FakeAPI


def _uuid(i: int) -> str:
    return f"{i:08d}-0000-4000-8000-000000000000"


async def test_async_for_walks_all_pages(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    url = f"{DATA}/v1/scans"
    # total_items lies (says 2) and is capped; iteration must go by page length instead.
    fake_api.route(
        "GET",
        url,
        payload={**s.page("scans", [s.scan(_uuid(i)) for i in range(3)], 2), "count_capped": True},
    )
    fake_api.route(
        "GET", url, payload=s.page("scans", [s.scan(_uuid(i)) for i in range(3, 6)], None)
    )
    fake_api.route("GET", url, payload=s.page("scans", [s.scan(_uuid(6))], None))
    uuids = [scan.uuid async for scan in client.scans.list(limit=3)]
    assert uuids == [_uuid(i) for i in range(7)]
    assert [dict(c.params)["skip"] for c in fake_api.calls] == ["0", "3", "6"]


async def test_empty_page_stops(client: AsyncModelSecurityClient, fake_api: FakeAPI) -> None:
    url = f"{MGMT}/v1/security-rules"
    fake_api.route("GET", url, payload=s.page("rules", [s.rule(_uuid(1)), s.rule(_uuid(2))]))
    fake_api.route("GET", url, payload=s.page("rules", []))
    rules = await client.security_rules.list(limit=2).to_list()
    assert len(rules) == 2
    assert len(fake_api.calls) == 2


async def test_await_gives_first_page_only(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", f"{DATA}/v1/scans", payload=s.page("scans", [s.scan()], 50))
    page = await client.scans.list(limit=1)
    assert page.pagination.total_items == 50
    assert len(page.scans) == 1
    assert len(fake_api.calls) == 1


async def test_max_items_caps_iteration(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route(
        "GET",
        f"{DATA}/v1/scans",
        payload=s.page("scans", [s.scan(_uuid(i)) for i in range(5)]),
        repeat=True,
    )
    got = [x async for x in client.scans.list(limit=5, max_items=7)]
    assert len(got) == 7
    assert len(fake_api.calls) == 2


async def test_cursor_pagination_follows_next_token(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    url = f"{MGMT}/v1/custom-rules/versions"
    fake_api.route(
        "GET",
        url,
        payload={
            "versions": [{"generation": 2, "timestamp": "b"}],
            "pagination": {"next_token": "t2"},
        },
    )
    fake_api.route(
        "GET",
        url,
        payload={
            "versions": [{"generation": 1, "timestamp": "a"}],
            "pagination": {"next_token": "t2"},
        },
    )
    gens = [v.generation async for v in client.custom_rules.list_versions()]
    assert gens == [2, 1]  # a repeated token ends the walk instead of looping
    assert [c.params for c in fake_api.calls] == [[], [("next_token", "t2")]]


@pytest.mark.parametrize("limit", [1, 100])
async def test_limit_bounds_accepted(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, limit: int
) -> None:
    fake_api.route("GET", f"{DATA}/v1/models", payload=s.page("models", []))
    await client.models.list(limit=limit)
    assert ("limit", str(limit)) in fake_api.calls[0].params
