"""The converter: round trips, unknown fields, open enums, date-times."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelsec.errors import ResponseValidationError
from modelsec.types import (
    EvalOutcome,
    Label,
    Scan,
    ScanDetails,
    ThreatCategory,
    format_datetime,
    parse_datetime,
)
from tests.core import samples as s

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in Scan.__annotations__),
        json_values,
        max_size=4,
    ),
    outcome=st.sampled_from(["PENDING", "ALLOWED", "BLOCKED", "ERROR"])
    | st.text(min_size=1, max_size=12),
)
def test_scan_round_trip_keeps_unknowns(extra: dict[str, Any], outcome: str) -> None:
    raw = {**s.scan(outcome=outcome), **extra}
    scan = Scan.from_dict(raw)
    again = scan.to_dict()
    for key, value in raw.items():
        assert again[key] == value
    assert Scan.from_dict(again) == scan


@given(st.datetimes(timezones=st.just(dt.timezone.utc)))
def test_datetime_round_trip(value: dt.datetime) -> None:
    assert parse_datetime(format_datetime(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-04T10:00:00Z", dt.datetime(2026, 5, 4, 10, tzinfo=dt.timezone.utc)),
        ("2026-05-04T12:00:00+02:00", dt.datetime(2026, 5, 4, 10, tzinfo=dt.timezone.utc)),
        ("2026-05-04T10:00:00", dt.datetime(2026, 5, 4, 10, tzinfo=dt.timezone.utc)),
        (
            "2026-05-04 10:00:00.5Z",
            dt.datetime(2026, 5, 4, 10, 0, 0, 500000, tzinfo=dt.timezone.utc),
        ),
        (
            "2026-05-04T10:00:00.123456789Z",
            dt.datetime(2026, 5, 4, 10, 0, 0, 123456, tzinfo=dt.timezone.utc),
        ),
    ],
)
def test_datetime_forms(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text) == expected
    assert parse_datetime(text).tzinfo is dt.timezone.utc


def test_bad_datetime_names_the_path() -> None:
    with pytest.raises(ResponseValidationError, match=r"\$\.updated_at"):
        Scan.from_dict({**s.scan(), "updated_at": "nope"})


def test_open_enum_members_equal_strings() -> None:
    assert EvalOutcome.BLOCKED == "BLOCKED"
    assert str(ThreatCategory.PAIT_PKL_100) == "PAIT-PKL-100"
    assert ThreatCategory("PAIT-PKL-100") is ThreatCategory.PAIT_PKL_100


def test_scan_details_to_dict_is_wire_json() -> None:
    details = ScanDetails.from_dict(
        {
            "scanner_version": "x",
            "time_started": "2026-05-04T10:00:00Z",
            "files": [
                {
                    "file_path": "a.pkl",
                    "modelscan_status": "SCANNED",
                    "blob_id": "b",
                    "issues_detected": [
                        {
                            "description": "d",
                            "source": "a.pkl",
                            "threat": "PAIT-PKL-100",
                            "module": "os",
                            "operator": "system",
                        }
                    ],
                }
            ],
            "total_files_scanned": 1,
            "total_files_skipped": 0,
            "model_formats": ["pickle"],
            "model_size_bytes": 3,
            "scan_duration_ms": 1,
        }
    )
    wire = details.to_dict(exclude_none=True)
    assert wire["files"][0]["issues_detected"][0]["threat"] == "PAIT-PKL-100"
    assert wire["files"][0]["modelscan_status"] == "SCANNED"
    assert "error_code" not in wire


def test_requests_are_strict() -> None:
    with pytest.raises(TypeError):
        Label(key="a", value="b", colour="red")  # type: ignore[call-arg]
