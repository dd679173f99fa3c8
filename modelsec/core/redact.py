"""Redaction of secrets in URLs, headers and bodies before anything is logged or shown."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "SENSITIVE_KEYS", "redact_headers", "redact_json", "redact_url"]

REDACTED = "***"

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "token",
        "secret",
        "authorization",
        "url",  # the PyPI auth URL embeds a credential
    }
)
_QUERY_SECRET = re.compile(r"(?i)((?:access_)?token|secret|password|sig|signature|key)=([^&]+)")


def redact_url(url: str) -> str:
    """Hide the user-info and secret-looking query values of a URL.

    Example:
        >>> redact_url("https://oauth2accesstoken:ya29.abc@pypi.example/simple/?token=x")
        'https://***@pypi.example/simple/?token=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy of ``headers`` with credentials replaced.

    Example:
        >>> redact_headers({"Authorization": "Bearer abc", "Accept": "application/json"})
        {'Authorization': '***', 'Accept': 'application/json'}
    """
    return {k: (REDACTED if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


def redact_json(value: Any) -> Any:
    """Copy of a JSON value with every secret-named key's value replaced.

    Example:
        >>> redact_json({"access_token": "abc", "expires_in": 900})
        {'access_token': '***', 'expires_in': 900}
    """
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in SENSITIVE_KEYS else redact_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value
