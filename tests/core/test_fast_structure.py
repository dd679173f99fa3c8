"""The compiled structuring path agrees with the cattrs converter on every wire class.

``structure()`` first tries a compiled function per wire class (``modelsec.types._fast``) and
falls back to the converter when the JSON is not exactly as the spec says. These tests generate
JSON for every wire class from its type hints and check, value by value and type by type, that
the compiled path gives what the converter gives, that it really is taken for spec-shaped JSON,
and that off-spec JSON (wrong types, nulls, missing fields) ends exactly as the converter says.
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelsec.types.data as data_types
import modelsec.types.mgmt as mgmt_types
from modelsec.errors import ResponseValidationError
from modelsec.types import EvalOutcome, Scan, ScanList
from modelsec.types._base import WireModel, _fast, converter, structure
from modelsec.types._fast import Slow

WIRE_CLASSES = sorted(
    {
        obj
        for module in (data_types, mgmt_types)
        for obj in vars(module).values()
        if inspect.isclass(obj) and attrs.has(obj) and issubclass(obj, WireModel)
    },
    key=lambda c: c.__qualname__,
)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=4)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)


def _date_times() -> st.SearchStrategy[str]:
    moments = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1))
    return st.one_of(
        moments.map(lambda m: m.isoformat() + "Z"),
        moments.map(lambda m: m.isoformat()),  # naive: read as UTC
        moments.map(lambda m: m.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5))).isoformat()),
        moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.") + "123456789Z"),  # nanoseconds
    )


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def json_for(tp: Any) -> st.SearchStrategy[Any]:
    """Spec-shaped JSON for the Python type ``tp`` of a wire field."""
    if tp is Any:
        return JSON_VALUES
    if tp is str:
        return st.text(max_size=6)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**40), 2**40)
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is dt.datetime:
        return _date_times()
    args = _union_args(tp)
    if args is not None:
        return st.one_of(*(json_for(a) for a in args))
    if tp is type(None):
        return st.none()
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(tp))
    if origin is list:
        return st.lists(json_for(typing.get_args(tp)[0]), max_size=3)
    if origin in (dict, Mapping):
        key_tp, value_tp = typing.get_args(tp)
        return st.dictionaries(json_for(key_tp), json_for(value_tp), max_size=3)
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return st.sampled_from([m.value for m in tp])
    if inspect.isclass(tp) and attrs.has(tp):
        return st.deferred(lambda: model_json(tp))
    raise AssertionError(f"no strategy for {tp!r}")


@st.composite
def model_json(draw: st.DrawFn, cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        # A Literal field is the tag of a tagged union: always sent.
        tagged = typing.get_origin(hints[field.name]) is typing.Literal
        required = field.default is attrs.NOTHING or tagged
        if required or draw(st.booleans()):
            out[field.name] = draw(json_for(hints[field.name]))
    # Fields this SDK does not know (yet) must land in ``extra``.
    unknown = draw(st.dictionaries(st.sampled_from(["zz_new", "x_future"]), JSON_VALUES))
    out.update(unknown)
    return out


def assert_same(left: Any, right: Any, path: str = "$") -> None:
    """Equal, and of the same types all the way down (an enum member is not its string)."""
    assert type(left) is type(right), f"{path}: {type(left)} != {type(right)}"
    if attrs.has(type(left)):
        for field in attrs.fields(type(left)):
            assert_same(
                getattr(left, field.name), getattr(right, field.name), f"{path}.{field.name}"
            )
    elif isinstance(left, dict):
        assert list(left) == list(right), path
        for key in left:
            assert_same(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert len(left) == len(right), path
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(left, dt.datetime):
        assert left == right and left.tzinfo == right.tzinfo, path
    else:
        assert left == right, path


def reference(payload: Any, cls: type[Any]) -> Any:
    """What the converter alone makes of ``payload`` (the exception if it refuses it)."""
    try:
        return converter.structure(payload, cls)
    except Exception as exc:
        return exc


def test_every_wire_class_without_hooks_of_its_own_is_compiled() -> None:
    not_compiled = [c.__name__ for c in WIRE_CLASSES if _fast.get(c) is None]
    assert not_compiled == []


@pytest.mark.parametrize("cls", WIRE_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_path_matches_the_converter(cls: type[Any], data: st.DataObject) -> None:
    payload = data.draw(model_json(cls))
    expected = converter.structure(payload, cls)
    compiled = _fast.get(cls)
    assert compiled is not None
    # Spec-shaped JSON takes the compiled path: no fallback.
    assert_same(compiled(payload), expected)
    assert_same(structure(payload, cls), expected)


WRONG_VALUES = [None, 7, True, "text", 1.5, [], {}, ["x"], [{"a": 1}], "not-a-date"]


@pytest.mark.parametrize("cls", WIRE_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_off_spec_json_ends_as_the_converter_says(cls: type[Any], data: st.DataObject) -> None:
    payload = data.draw(model_json(cls))
    names = [f.name for f in attrs.fields(cls) if f.name != "extra"]
    if names:
        name = data.draw(st.sampled_from(names))
        if data.draw(st.booleans()) or name not in payload:
            payload[name] = data.draw(st.sampled_from(WRONG_VALUES))
        else:
            del payload[name]
    expected = reference(payload, cls)
    if isinstance(expected, Exception):
        with pytest.raises(ResponseValidationError):
            structure(payload, cls)
    else:
        assert_same(structure(payload, cls), expected)


def test_off_spec_values_fall_back_instead_of_being_accepted() -> None:
    compiled = _fast.get(Scan)
    assert compiled is not None
    good = {
        "uuid": "u",
        "tsg_id": "1",
        "created_at": "2026-05-04T10:00:00Z",
        "updated_at": "2026-05-04T10:00:00.123456789Z",
        "model_uri": "hf://a/b",
        "owner": "o",
        "scan_origin": "MODEL_SECURITY_SDK",
        "security_group_uuid": "g",
        "security_group_name": "n",
        "eval_outcome": "ALLOWED",
        "source_type": "HUGGING_FACE",
    }
    scan = compiled(good)
    assert scan.eval_outcome is EvalOutcome.ALLOWED
    assert scan.updated_at == dt.datetime(2026, 5, 4, 10, 0, 0, 123456, tzinfo=dt.timezone.utc)
    assert scan.labels == [] and scan.extra == {}
    for field, value in [
        ("owner", 5),  # the converter coerces this; the compiled path does not guess
        ("total_files_scanned", "3"),
        ("total_files_scanned", True),
        ("eval_outcome", None),
        ("created_at", "yesterday"),
        ("labels", [{"key": "k"}]),
        ("eval_summary", []),
    ]:
        with pytest.raises(Slow):
            compiled({**good, field: value})
    missing = dict(good)
    del missing["uuid"]
    with pytest.raises(Slow):
        compiled(missing)
    with pytest.raises(ResponseValidationError, match=r"\$\.uuid"):
        structure(missing, Scan)
    # A lenient coercion of the converter still happens (through the fallback).
    assert structure({**good, "owner": 5}, Scan).owner == "5"


def test_results_share_nothing_mutable_with_the_input_or_each_other() -> None:
    payload = {
        "pagination": {"total_items": 1},
        "scans": [],
        "zz_new": {"nested": [1]},
    }
    first = structure(payload, ScanList)
    second = structure(payload, ScanList)
    assert first.scans is not payload["scans"]
    assert first.scans is not second.scans
    assert first.extra == {"zz_new": {"nested": [1]}}
    assert first.extra is not second.extra
    scan_payload = {
        "uuid": "u",
        "tsg_id": "1",
        "created_at": "2026-05-04T10:00:00Z",
        "updated_at": "2026-05-04T10:00:00Z",
        "model_uri": "m",
        "owner": "o",
        "scan_origin": "X",
        "security_group_uuid": "g",
        "security_group_name": "n",
        "eval_outcome": "SOMETHING_NEW",
        "source_type": "S3",
        "model_formats": ["pickle"],
    }
    a = structure(scan_payload, Scan)
    b = structure(scan_payload, Scan)
    assert a.labels == [] and a.labels is not b.labels  # factory defaults are fresh
    assert a.model_formats == ["pickle"] and a.model_formats is not scan_payload["model_formats"]
    assert a.eval_outcome == "SOMETHING_NEW" and type(a.eval_outcome) is str
    assert not a.is_settled


def test_instances_built_by_the_compiled_path_stay_frozen_and_evolvable() -> None:
    page = structure({"pagination": {"total_items": None}, "scans": []}, ScanList)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        page.count_capped = True  # type: ignore[misc]
    assert attrs.evolve(page, count_capped=True).count_capped is True
    assert page == ScanList(pagination=data_types.Pagination(total_items=None), scans=[])
    assert "count_capped=False" in repr(page)
