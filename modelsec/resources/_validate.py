"""Client-side checks of arguments, run before any request is sent.

Each failure raises :class:`modelsec.errors.PayloadError` (``USER_REQUEST_PAYLOAD_ERROR``) naming
the argument, so a typo costs no round trip and never reaches the service.
"""

from __future__ import annotations

import re
import uuid as _uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union
from urllib.parse import unquote

from modelsec.errors import PayloadError
from modelsec.types import Label

__all__ = [
    "LabelsArg",
    "check_label_keys",
    "check_labels",
    "check_limit",
    "check_relative_path",
    "check_skip",
    "check_text",
    "check_uuid",
]

LabelsArg = Union[Mapping[str, str], Iterable[Label], Iterable[Mapping[str, str]]]
"""Labels as ``{"team": "ml"}``, as ``[Label(key=..., value=...)]`` or as wire dicts."""

_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_LABELS = 50
# Paths of plain segments (no dots, no percent-escapes) need no closer look.
_SAFE_PATH = re.compile(r"(/[A-Za-z0-9_\-]+)+/?")
_UNSAFE_PATH_CHAR = re.compile(r"[?#\\\x00-\x20\x7f]")


def check_uuid(name: str, value: Any) -> str:
    """Return ``value`` as a canonical lower-case UUID string, or raise PayloadError.

    Example:
        >>> check_uuid("scan_uuid", "550E8400-E29B-41D4-A716-446655440000")
        '550e8400-e29b-41d4-a716-446655440000'
    """
    if isinstance(value, _uuid.UUID):
        return str(value)
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # the common case: already canonical, no parsing needed
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{name} must be a UUID string, got {type(value).__name__}")
    try:
        return str(_uuid.UUID(value))
    except ValueError:
        raise PayloadError(f"{name} is not a valid UUID: {value[:64]!r}") from None


def check_relative_path(path: Any) -> str:
    """Return ``path`` if it is an API path relative to a plane's base URL, or raise PayloadError.

    It must start with ``/`` and hold no scheme, host, query, fragment, ``.``/``..`` segment or
    control character: a request built from it can only reach the configured service.

    Example:
        >>> check_relative_path("/v1/scans")
        '/v1/scans'
    """
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise PayloadError(f"path must be a string starting with '/', got {path!r:.80}")
    if _SAFE_PATH.fullmatch(path):
        return path  # the common case: plain segments, nothing to decode
    if _UNSAFE_PATH_CHAR.search(path):
        raise PayloadError(
            f"path may not hold '?', '#', '\\', spaces or control characters (query "
            f"parameters go in params=): {path!r:.80}"
        )
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise PayloadError(f"path may not hold '.' or '..' segments: {path!r:.80}")
    return path


def check_uuids(name: str, values: Iterable[Any] | None) -> list[str] | None:
    """Validate a list of UUIDs (None passes through)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise PayloadError(f"{name} must be a list of UUIDs, not a single string")
    return [check_uuid(f"{name}[{i}]", v) for i, v in enumerate(values)]


def check_limit(limit: int, *, maximum: int = 100) -> int:
    """``limit`` must be an int in 1..maximum."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise PayloadError(f"limit must be an integer between 1 and {maximum}, got {limit!r}")
    return limit


def check_skip(skip: int) -> int:
    """``skip`` must be an int >= 0."""
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise PayloadError(f"skip must be an integer >= 0, got {skip!r}")
    return skip


def check_text(
    name: str, value: str | None, *, min_len: int = 0, max_len: int | None = None
) -> str | None:
    """A string argument within length bounds (None passes through)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        bound = f"{min_len}..{max_len}" if max_len is not None else f">= {min_len}"
        raise PayloadError(f"{name} must be {bound} characters long, got {len(value)}")
    return value


def check_label_part(name: str, value: Any, max_len: int) -> str:
    """A label key (1..128) or value (1..256) of ``[A-Za-z0-9_-]``."""
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= max_len:
        raise PayloadError(
            f"{name} must be 1..{max_len} characters, got {len(value)}: {value[:40]!r}"
        )
    if not _LABEL_RE.match(value):
        raise PayloadError(f"{name} may only contain letters, digits, '_' and '-': {value[:40]!r}")
    return value


def check_labels(labels: LabelsArg, *, allow_empty: bool = False) -> list[Label]:
    """Normalise labels to ``Label`` objects and check them (at most 50, key/value syntax).

    Example:
        >>> check_labels({"team": "ml", "env": "prod"})
        [Label(key='team', value='ml'), Label(key='env', value='prod')]
    """
    items: list[Label] = []
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            items.append(Label(key=key, value=value))
    else:
        if isinstance(labels, (str, bytes)):  # type: ignore[unreachable]
            raise PayloadError("labels must be a mapping or a list of Label objects")
        for entry in labels:
            if isinstance(entry, Label):
                items.append(entry)
            elif isinstance(entry, Mapping) and set(entry) >= {"key", "value"}:
                items.append(Label(key=entry["key"], value=entry["value"]))
            else:
                raise PayloadError(
                    f"labels entries must be Label objects or {{key, value}}: {entry!r}"
                )
    if not items and not allow_empty:
        raise PayloadError("labels must hold at least one label")
    if len(items) > MAX_LABELS:
        raise PayloadError(f"at most {MAX_LABELS} labels are allowed, got {len(items)}")
    for label in items:
        check_label_part("label key", label.key, 128)
        check_label_part("label value", label.value, 256)
    return items


def check_label_keys(keys: Sequence[str] | str) -> list[str]:
    """1..50 label keys to delete."""
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    if not 1 <= len(keys) <= MAX_LABELS:
        raise PayloadError(f"give 1..{MAX_LABELS} label keys, got {len(keys)}")
    return [check_label_part("label key", k, 128) for k in keys]


def check_choice(name: str, value: Any, choices: Iterable[str]) -> Any:
    """A value from a closed set of wire strings (enum members accepted)."""
    if value is None:
        return None
    raw = getattr(value, "value", value)
    allowed = list(choices)
    if raw not in allowed:
        raise PayloadError(f"{name} must be one of {', '.join(allowed)}; got {raw!r}")
    return raw


def check_strings(name: str, values: Iterable[Any] | None) -> list[str] | None:
    """A list of strings (enum members accepted); a bare string is refused."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise PayloadError(f"{name} must be a list, not a single string")
    out: list[str] = []
    for v in values:
        raw = getattr(v, "value", v)
        if not isinstance(raw, str):
            raise PayloadError(f"{name} entries must be strings, got {type(raw).__name__}")
        out.append(raw)
    return out
