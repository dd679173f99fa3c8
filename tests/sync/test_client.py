"""The sync client over real loopback sockets: sequential, threaded, in a loop, paginated."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from modelsec import AsyncModelSecurityClient, NotFoundError, PayloadError
from modelsec.sync import ModelSecurityClient, SyncCursorPage, SyncPage, _portal
from modelsec.types import Scan, ScanList

from .conftest import MISSING_UUID, N_SCANS, N_VERSIONS, SG_UUID, FakeServer, scan_uuid


def test_sequential_calls(client: ModelSecurityClient, fake: FakeServer) -> None:
    for i in range(5):
        scan = client.scans.get(scan_uuid(i))
        assert isinstance(scan, Scan)
        assert scan.uuid == scan_uuid(i)
    created = client.scans.create(model_uri="hf://org/new", security_group_uuid=SG_UUID)
    assert created.eval_outcome == "PENDING"
    assert created.model_uri == "hf://org/new"
    assert fake.hits["get_scan"] == 5
    assert fake.token_calls == 1
    assert client.token_info().fetch_count == 1
    assert client.config.tsg_id == "1234567890"
    assert repr(client).startswith("ModelSecurityClient(")


def test_request_returns_plain_json(client: ModelSecurityClient, fake: FakeServer) -> None:
    data = client.request("GET", f"/v1/scans/{scan_uuid(3)}")
    assert isinstance(data, dict) and data["uuid"] == scan_uuid(3)
    with pytest.raises(PayloadError, match="params="):
        client.request("GET", "/v1/scans?limit=1")
    assert fake.hits["get_scan"] == 1


def test_calls_run_on_the_portal_thread(client: ModelSecurityClient) -> None:
    assert _portal.call(threading.current_thread).name == "modelsec-sync-loop"
    client.scans.get(scan_uuid(0))
    names = {t.name for t in threading.enumerate()}
    assert "modelsec-sync-loop" in names


async def _async_error(fake: FakeServer) -> NotFoundError:
    async with AsyncModelSecurityClient(**fake.client_kwargs()) as aclient:
        with pytest.raises(NotFoundError) as info:
            await aclient.scans.get(MISSING_UUID)
    return info.value


def test_exceptions_cross_unchanged(client: ModelSecurityClient, fake: FakeServer) -> None:
    import asyncio

    with pytest.raises(NotFoundError) as info:
        client.scans.get(MISSING_UUID)
    err = info.value
    expected = asyncio.run(_async_error(fake))
    assert type(err) is type(expected)
    assert str(err) == str(expected)
    for attr in ("error_type", "status_code", "body", "request_id", "retry_after"):
        assert getattr(err, attr) == getattr(expected, attr), attr
    assert err.status_code == 404
    assert err.request_id == "req-404"
    # Argument errors are raised before any request, in the calling thread, unchanged too.
    with pytest.raises(PayloadError, match="uuid"):
        client.scans.get("not-a-uuid")
    with pytest.raises(PayloadError):
        client.scans.list(limit=0)


def test_sixteen_threads_share_one_token(client: ModelSecurityClient, fake: FakeServer) -> None:
    barrier = threading.Barrier(16)

    def work(i: int) -> list[str]:
        barrier.wait()
        return [client.scans.get(scan_uuid(i * 10 + j)).uuid for j in range(5)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(16)))
    assert results == [[scan_uuid(i * 10 + j) for j in range(5)] for i in range(16)]
    assert fake.token_calls == 1
    assert fake.hits["get_scan"] == 80


async def test_from_inside_a_running_loop(client: ModelSecurityClient, fake: FakeServer) -> None:
    _portal._warned_running_loop = False
    with pytest.warns(RuntimeWarning, match="AsyncModelSecurityClient"):
        scan = client.scans.get(scan_uuid(1))
    assert scan.uuid == scan_uuid(1)
    # Only once per process.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [s.uuid for s in client.scans.list(limit=10)][:2] == [scan_uuid(0), scan_uuid(1)]


def test_pagination_walks_every_page(client: ModelSecurityClient, fake: FakeServer) -> None:
    page = client.scans.list(limit=10)
    assert isinstance(page, SyncPage)
    assert fake.hits["list_scans"] == 1  # the first page, fetched at once
    assert isinstance(page.page, ScanList)
    assert page.pagination.total_items == N_SCANS  # attributes of the page object
    assert [s.uuid for s in page.items] == [scan_uuid(i) for i in range(10)]
    assert page.has_next_page()
    uuids = [scan.uuid for scan in page]
    assert uuids == [scan_uuid(i) for i in range(N_SCANS)]
    assert fake.hits["list_scans"] == 3  # one crossing (and one request) per page
    assert len(list(page.iter_pages())) == 3
    nxt = page.next_page()
    assert nxt is not None
    assert nxt.skip == 10
    assert [s.uuid for s in client.scans.list(limit=10, max_items=12)] == [
        scan_uuid(i) for i in range(12)
    ]
    assert len(client.scans.list(skip=20, limit=10).to_list()) == N_SCANS - 20


def test_cursor_pagination(client: ModelSecurityClient, fake: FakeServer) -> None:
    page = client.security_rules.list_versions()
    assert isinstance(page, SyncCursorPage)
    assert [v.generation for v in page.items] == [0, 1, 2]
    assert [v.generation for v in page] == list(range(N_VERSIONS))
    assert fake.hits["rule_versions"] == 3


def test_with_options_copy(client: ModelSecurityClient, fake: FakeServer) -> None:
    patient = client.with_options(timeout=30, extra_headers={"x-test": "1"})
    assert isinstance(patient, ModelSecurityClient)
    assert patient.scans.get(scan_uuid(3)).uuid == scan_uuid(3)
    assert client.scans.get(scan_uuid(4)).uuid == scan_uuid(4)
    assert fake.token_calls == 1  # the copy shares the token cache and session


def test_close_closes_the_session(fake: FakeServer) -> None:
    client = ModelSecurityClient(**fake.client_kwargs())
    client.scans.get(scan_uuid(0))
    transport = client._async._transport
    assert transport.has_open_session
    client.close()
    assert not transport.has_open_session
    with pytest.raises(RuntimeError, match="closed"):
        client.scans.get(scan_uuid(0))
    client.close()  # twice is fine


def test_calling_from_the_loop_thread_is_refused(client: ModelSecurityClient) -> None:
    def inner() -> None:
        client.scans.get(scan_uuid(0))

    with pytest.raises(RuntimeError, match="own event loop thread"):
        _portal.call(inner)
