"""Where requests may go: plain http only to literal loopback, and proxies from the environment.

Example:
    >>> is_loopback_url("http://127.0.0.1:8765/aims/data"), is_loopback_url("http://x.localhost")
    (True, False)
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import aiohttp

from modelsec.core.redact import safe_url
from modelsec.errors import PayloadError

__all__ = ["ensure_secure_endpoint", "env_proxies", "is_loopback_url", "origin"]


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a literal loopback address or ``localhost`` itself.

    Names under ``.localhost`` (and ``localhost.``) are not: a resolver may send them to DNS,
    which could answer with any address.

    Example:
        >>> is_loopback_url("http://127.0.0.1:8765/aims/data")
        True
        >>> is_loopback_url("http://[::1]:8765/aims/data"), is_loopback_url("http://localhost")
        (True, True)
        >>> is_loopback_url("http://x.localhost"), is_loopback_url("http://example.com")
        (False, False)
    """
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_secure_endpoint(url: str, what: str) -> None:
    """Refuse plain-http endpoints other than loopback: a bearer token must not leak.

    Raises:
        PayloadError: for ``http://`` to a non-loopback host.

    Example:
        >>> ensure_secure_endpoint("http://localhost:8765/aims/data", "data_endpoint")
    """
    if url.startswith("http://") and not is_loopback_url(url):
        raise PayloadError(
            f"{what} uses plain http to a non-loopback host ({safe_url(url)}); credentials are "
            "only sent over https (or http to 127.0.0.1, ::1 or localhost)"
        )


def origin(url: str) -> str:
    """``scheme://netloc`` of a URL (the key of the proxy table).

    Example:
        >>> origin("https://api.example/aims/data")
        'https://api.example'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def env_proxies(urls: list[str]) -> dict[str, tuple[str, aiohttp.BasicAuth | None]]:
    """Proxies from ``HTTP(S)_PROXY``/``NO_PROXY`` for each URL's origin (none: absent).

    The proxy URL comes back without its credentials (aiohttp takes them out), which are
    returned apart, for the ``Proxy-Authorization`` header.
    """
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    found: dict[str, tuple[str, aiohttp.BasicAuth | None]] = {}
    for url in urls:
        try:
            proxy, auth = get_env_proxy_for_url(URL(url))
        except LookupError:
            continue
        found[origin(url)] = (str(proxy), auth)
    return found
