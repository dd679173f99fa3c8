"""Redaction of secrets in URLs, headers and bodies before anything is logged or shown.

Two complementary ways: by key name (``redact_json``, ``redact_headers``), for shapes we know,
and by value (:class:`Secrets`), for what a server echoes back anywhere (an ``error_description``
quoting the credentials, an HTML page quoting the bearer token): the client knows its secret
and the tokens it has held, so it can find them in any text.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SENSITIVE_KEYS",
    "Secrets",
    "redact_headers",
    "redact_json",
    "redact_url",
    "safe_url",
]

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


def safe_url(url: str) -> str:
    """``scheme://host:port/path`` of a URL, for messages: no user-info, query or fragment.

    Example:
        >>> safe_url("https://u:p@api.example/aims/data/v1/scans?search_query=x")
        'https://api.example:443/aims/data/v1/scans'
        >>> safe_url("http://[::1]:8765/oauth2/access_token")
        'http://[::1]:8765/oauth2/access_token'
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return REDACTED
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# Shorter values are not scrubbed: they would mangle every message ("s" in "scans") and a
# credential that short protects nothing anyway.
MIN_SECRET_LENGTH = 4


def _variants(value: str) -> set[str]:
    """The forms in which ``value`` may come back: raw, percent-, form-, JSON- and HTML-encoded."""
    found = {value, quote(value, safe=""), quote_plus(value), html.escape(value)}
    found.add(json.dumps(value)[1:-1])
    return {v for v in found if len(v) >= MIN_SECRET_LENGTH}


class Secrets:
    """The values one client must never show, found and replaced wherever they appear.

    Holds the client secret, the ``Basic`` credential built from it, proxy passwords, and the
    most recent access tokens (a bounded number: a server may echo a token it has already
    replaced). :meth:`scrub` replaces each in a text, :meth:`scrub_json` in every key and
    string of a JSON value.

    Example:
        >>> secrets = Secrets(["sup3r-s3cret"])
        >>> secrets.add_token("eyJ.tok.en")
        >>> secrets.scrub("invalid secret sup3r-s3cret for token eyJ.tok.en")
        'invalid secret *** for token ***'
        >>> secrets.scrub_json({"detail": ["eyJ.tok.en"]})
        {'detail': ['***']}
        >>> "sup3r" in repr(secrets)
        False
    """

    def __init__(self, values: Iterable[str] = (), *, max_tokens: int = 8) -> None:
        self._fixed: set[str] = set()
        self._tokens: deque[str] = deque(maxlen=max_tokens)
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    def __repr__(self) -> str:
        return f"<Secrets: {len(self._fixed)} values, {len(self._tokens)} tokens>"

    def add(self, value: str | None) -> None:
        """Never show ``value`` (a secret or password), in any of its usual encodings."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            self._fixed |= _variants(value)
            self._pattern = None

    def add_basic(self, user: str, password: str) -> None:
        """Never show ``password`` nor the ``Basic`` credential that carries it."""
        self.add(password)
        self.add(base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))

    def add_token(self, token: str) -> None:
        """Remember a token this client holds (the oldest of the recent ones is forgotten)."""
        if token and len(token) >= MIN_SECRET_LENGTH and token not in self._tokens:
            self._tokens.append(token)
            self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        pattern = self._pattern
        if pattern is None:
            values = set(self._fixed)
            for token in self._tokens:
                values |= _variants(token)
            if not values:
                return None
            # Longest first, so that a value containing another is replaced whole.
            alternatives = sorted(values, key=len, reverse=True)
            pattern = self._pattern = re.compile("|".join(map(re.escape, alternatives)))
        return pattern

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)

    def scrub_json(self, value: Any) -> Any:
        """A copy of a JSON value (or text) with every known secret replaced, keys included."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {
                (self.scrub(k) if isinstance(k, str) else k): self.scrub_json(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.scrub_json(v) for v in value]
        return value
