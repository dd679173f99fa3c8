"""The reconcile window's lookups on a fake clock: no resend before a lookup after the window."""

from __future__ import annotations

import itertools
from typing import Any

from modelsec.config import Timeouts
from modelsec.reconcile import RECONCILE_GRACE, default_window, look_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeScans:
    """``scans.list(labels_query=...)``: the scan appears at ``lands_at`` (or never)."""

    def __init__(self, clock: FakeClock, lands_at: float | None) -> None:
        self.clock = clock
        self.lands_at = lands_at
        self.lookups: list[float] = []

    def list(self, **kwargs: Any) -> Any:
        scans = self

        class Page:
            async def to_list(self) -> list[Any]:
                scans.lookups.append(scans.clock.now)
                if scans.lands_at is not None and scans.clock.now >= scans.lands_at:
                    return [type("S", (), {"uuid": "u1", "created_at": None})()]
                return []

        assert kwargs["labels_query"] == "modelsec_request_id:rid"
        return Page()


class FakeClient:
    def __init__(self, clock: FakeClock, lands_at: float | None) -> None:
        self._transport = type("T", (), {"clock": clock, "sleep": clock.sleep})()
        self.scans = FakeScans(clock, lands_at)


async def _read(fetch: Any) -> Any:
    return await fetch()


async def test_a_create_landing_inside_the_window_is_found() -> None:
    clock = FakeClock()
    client = FakeClient(clock, lands_at=7.0)
    found = await look_until(client, "rid", 10.0, _read)  # type: ignore[arg-type]
    assert [s.uuid for s in found] == ["u1"]
    assert client.scans.lookups[-1] >= 7.0
    assert client.scans.lookups[0] == 0.0  # looked at once


async def test_nothing_found_only_after_a_lookup_past_the_window() -> None:
    clock = FakeClock()
    client = FakeClient(clock, lands_at=None)
    assert await look_until(client, "rid", 10.0, _read) == []  # type: ignore[arg-type]
    lookups = client.scans.lookups
    assert lookups[-1] >= 10.0  # the empty answer that allows a resend came after the window
    assert all(b > a for a, b in itertools.pairwise(lookups))
    assert max(b - a for a, b in itertools.pairwise(lookups)) <= 4.0  # kept looking throughout
    assert len(lookups) < 12  # growing pauses, not a busy loop


def test_default_window_is_the_request_deadline_plus_grace() -> None:
    defaults = Timeouts()  # connect 5 s + read 30 s since the defaults were made livable
    assert defaults.connect is not None and defaults.read is not None
    assert default_window(defaults) == defaults.connect + defaults.read + RECONCILE_GRACE
    assert default_window(Timeouts(connect=10, read=60, total=300)) == 10 + 60 + RECONCILE_GRACE
    assert default_window(Timeouts(connect=5, read=30, total=20)) == 20 + RECONCILE_GRACE
    assert default_window(Timeouts(connect=5, read=None, total=100)) == 100 + RECONCILE_GRACE
