"""What one API call sends, settled before any I/O: query pairs, path, options, User-Agent.

Pure functions and values, no session and no state: :class:`~modelsec.core.transport.Transport`
assembles them into requests, and ``resources/`` uses :func:`encode_path` to build paths. Kept
apart from the transport, whose concern is the attempts, errors and logging of one call.

Example:
    >>> encode_path("/v1/scans/{uuid}/labels", uuid="a b"), build_query({"keys": ["x", "y"]})
    ('/v1/scans/a%20b/labels', [('keys', 'x'), ('keys', 'y')])
"""

from __future__ import annotations

import datetime as _dt
import enum
import platform
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from modelsec._version import __version__
from modelsec.config import Timeouts
from modelsec.core.redact import redact_headers
from modelsec.types._base import format_datetime

__all__ = ["QueryValue", "RequestOptions", "build_query", "encode_path", "user_agent"]

QueryValue = Any

_PATH_SAFE = re.compile(r"[A-Za-z0-9_-]+")  # needs no percent-encoding (UUIDs, label keys)


def _query_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, _dt.datetime):
        return format_datetime(value)
    return str(value)


def build_query(params: Mapping[str, QueryValue] | None) -> list[tuple[str, str]]:
    """Turn keyword filters into query pairs: ``None`` omitted, sequences as repeated keys.

    Example:
        >>> build_query({"source_types": ["S3", "GCS"], "skip": 0, "search_query": None})
        [('source_types', 'S3'), ('source_types', 'GCS'), ('skip', '0')]
    """
    pairs: list[tuple[str, str]] = []
    if not params:
        return pairs
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            pairs.extend((key, _query_scalar(v)) for v in value if v is not None)
        else:
            pairs.append((key, _query_scalar(value)))
    return pairs


def encode_path(template: str, **values: str) -> str:
    """Fill a path template, percent-encoding each value (no ``/`` smuggling).

    Example:
        >>> encode_path("/v1/scans/label-keys/{key}/values", key="a/b")
        '/v1/scans/label-keys/a%2Fb/values'
    """
    for key, value in values.items():
        if not _PATH_SAFE.fullmatch(value):
            values[key] = quote(str(value), safe="")
    return template.format_map(values)


@attrs.frozen(kw_only=True)
class RequestOptions:
    """Per-client (``with_options``) or per-call overrides.

    Example:
        >>> RequestOptions(max_retries=0).max_retries
        0
    """

    timeout: float | Timeouts | None = None
    max_retries: int | None = None
    extra_headers: Mapping[str, str] = attrs.field(
        factory=dict, repr=lambda headers: repr(redact_headers(headers))
    )

    def merge(self, other: RequestOptions) -> RequestOptions:
        """``other`` wins where it sets something; headers are combined."""
        return RequestOptions(
            timeout=other.timeout if other.timeout is not None else self.timeout,
            max_retries=other.max_retries if other.max_retries is not None else self.max_retries,
            extra_headers={**self.extra_headers, **other.extra_headers},
        )

    def for_call(
        self, timeout: float | Timeouts | None, extra_headers: Mapping[str, str] | None
    ) -> RequestOptions:
        """These options with one call's ``timeout=`` and ``extra_headers=`` applied.

        Example:
            >>> RequestOptions(timeout=5).for_call(None, {"x-team": "ml"}).extra_headers
            {'x-team': 'ml'}
        """
        if timeout is None and not extra_headers:
            return self
        return self.merge(RequestOptions(timeout=timeout, extra_headers=dict(extra_headers or {})))


def user_agent(suffix: str | None = None) -> str:
    """``modelsec-python/<ver> python/<ver> aiohttp/<ver>`` plus an optional suffix."""
    base = (
        f"modelsec-python/{__version__} python/{platform.python_version()} "
        f"aiohttp/{aiohttp.__version__}"
    )
    return f"{base} {suffix}" if suffix else base
