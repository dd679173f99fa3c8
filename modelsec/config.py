"""Client configuration: credentials, endpoints, timeouts and limits.

Each setting comes from, in order: the constructor argument, ``PANW_MODEL_SEC_<X>``,
``PANW_MGMT_<X>`` (credentials, tenant and token endpoint only), the vendor client's
``MODEL_SECURITY_*`` names, then the default. ``MODEL_SECURITY_API_ENDPOINT`` is the
``.../aims`` root: the data plane is root + ``/data`` and the management plane root + ``/mgmt``.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from modelsec.core.redact import redact_url
from modelsec.errors import MissingVariableError, PayloadError

__all__ = [
    "DEFAULT_DATA_ENDPOINT",
    "DEFAULT_MGMT_ENDPOINT",
    "DEFAULT_TOKEN_ENDPOINT",
    "ClientConfig",
    "Timeouts",
]

DEFAULT_DATA_ENDPOINT = "https://api.sase.paloaltonetworks.com/aims/data"
DEFAULT_MGMT_ENDPOINT = "https://api.sase.paloaltonetworks.com/aims/mgmt"
DEFAULT_TOKEN_ENDPOINT = "https://auth.apps.paloaltonetworks.com/oauth2/access_token"
# Long enough for a slow TLS handshake across the world, short enough that a host that drops
# packets is reported before a person gives up on the command.
DEFAULT_CONNECT_TIMEOUT = 5.0

# Environment names per setting, in precedence order (after the explicit argument).
ENV_NAMES: Mapping[str, tuple[str, ...]] = {
    "client_id": (
        "PANW_MODEL_SEC_CLIENT_ID",
        "PANW_MGMT_CLIENT_ID",
        "MODEL_SECURITY_CLIENT_ID",
    ),
    "client_secret": (
        "PANW_MODEL_SEC_CLIENT_SECRET",
        "PANW_MGMT_CLIENT_SECRET",
        "MODEL_SECURITY_CLIENT_SECRET",
    ),
    "tsg_id": ("PANW_MODEL_SEC_TSG_ID", "PANW_MGMT_TSG_ID", "TSG_ID"),
    "token_endpoint": (
        "PANW_MODEL_SEC_TOKEN_ENDPOINT",
        "PANW_MGMT_TOKEN_ENDPOINT",
        "MODEL_SECURITY_TOKEN_ENDPOINT",
    ),
    "data_endpoint": ("PANW_MODEL_SEC_DATA_ENDPOINT",),
    "mgmt_endpoint": ("PANW_MODEL_SEC_MGMT_ENDPOINT",),
}
ROOT_ENDPOINT_ENV = "MODEL_SECURITY_API_ENDPOINT"


@attrs.frozen(kw_only=True)
class Timeouts:
    """Per-attempt connect and read timeouts and an overall deadline per call, in seconds.

    ``total`` bounds everything one SDK call waits for: the token fetch, connecting, the
    response body however slowly it arrives, retries and backoff sleeps. ``read`` is the
    longest silence between two reads of one attempt.

    Example:
        >>> Timeouts()
        Timeouts(connect=5.0, read=30.0, total=120.0)
    """

    connect: float | None = DEFAULT_CONNECT_TIMEOUT
    read: float | None = 30.0
    total: float | None = 120.0


log = logging.getLogger("modelsec")

# Settings that a copy-paste or a file (``$(cat secret.txt)``, a Kubernetes secret) often
# brings with a trailing newline, which the token endpoint would refuse as a wrong secret.
_STRIPPED = frozenset({"client_id", "client_secret", "tsg_id"})


def _resolve(name: str, explicit: str | None, env: Mapping[str, str]) -> str | None:
    source, value = "argument", explicit
    if value is None or value == "":
        source, value = "", None
        for var in ENV_NAMES[name]:
            if env.get(var):
                source, value = var, env[var]
                break
    if value is not None and name in _STRIPPED and value != value.strip():
        # Never the value itself: only that it was changed, and where it came from.
        log.debug("%s (%s) had leading or trailing whitespace; stripped", name, source)
        value = value.strip()
    return value


def _secret_repr(value: str) -> str:
    return "'***'" if value else "''"


def _url_repr(value: str) -> str:
    return repr(redact_url(value))


def check_endpoint(name: str, url: object) -> str:
    """Check an endpoint URL: http(s), a host, a valid port, and no credentials in it.

    Credentials in an endpoint (``https://user:pass@host``) are refused rather than used: the
    API authenticates with the client id and secret, and the URL would carry a password into
    every repr and error. The message never repeats them.

    Raises:
        PayloadError: naming the setting, with the URL redacted.

    Example:
        >>> check_endpoint("data_endpoint", "https://api.example/aims/data")
        'https://api.example/aims/data'
        >>> try:
        ...     check_endpoint("data_endpoint", "https://me:hunter22@api.example/aims/data")
        ... except PayloadError as err:
        ...     print(err)
        data_endpoint must not contain credentials (user:password@host): the API authenticates \
with client_id and client_secret; got 'https://***@api.example/aims/data'
    """
    if not isinstance(url, str):
        raise PayloadError(f"{name} must be a string URL, got {type(url).__name__}")
    shown = redact_url(url)
    if not url.startswith(("https://", "http://")):
        raise PayloadError(f"{name} must be an http(s) URL, got {shown!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise PayloadError(f"{name} is not a valid URL: {shown!r}") from None
    if "@" in parts.netloc:
        raise PayloadError(
            f"{name} must not contain credentials (user:password@host): the API "
            f"authenticates with client_id and client_secret; got {shown!r}"
        )
    if not parts.hostname:
        raise PayloadError(f"{name} has no host: {shown!r}")
    return url


def _endpoint_validator(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    check_endpoint(attribute.name, value)


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Resolved settings of a client. Secrets never appear in its ``repr``.

    Build it with :meth:`from_env`, which applies the precedence rules above.

    Example:
        >>> cfg = ClientConfig.from_env(client_id="id", client_secret="s3cret", tsg_id="123",
        ...     env={})
        >>> cfg.data_endpoint
        'https://api.sase.paloaltonetworks.com/aims/data'
        >>> "s3cret" in repr(cfg)
        False
    """

    client_id: str
    client_secret: str = attrs.field(repr=_secret_repr)
    tsg_id: str
    data_endpoint: str = attrs.field(
        default=DEFAULT_DATA_ENDPOINT, repr=_url_repr, validator=_endpoint_validator
    )
    mgmt_endpoint: str = attrs.field(
        default=DEFAULT_MGMT_ENDPOINT, repr=_url_repr, validator=_endpoint_validator
    )
    token_endpoint: str = attrs.field(
        default=DEFAULT_TOKEN_ENDPOINT, repr=_url_repr, validator=_endpoint_validator
    )
    max_retries: int = 2
    timeouts: Timeouts = attrs.field(factory=Timeouts)
    max_connections: int = 100
    max_connections_per_host: int = 0
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, repr=False)
    user_agent_suffix: str | None = None
    retry_after_cap: float = 60.0
    trust_env: bool = True

    @classmethod
    def from_env(
        cls,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        tsg_id: str | None = None,
        data_endpoint: str | None = None,
        mgmt_endpoint: str | None = None,
        token_endpoint: str | None = None,
        max_retries: int = 2,
        timeouts: Timeouts | None = None,
        max_connections: int = 100,
        max_connections_per_host: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        user_agent_suffix: str | None = None,
        retry_after_cap: float = 60.0,
        trust_env: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Resolve every setting from the arguments, then the environment, then defaults.

        Raises:
            MissingVariableError: a credential or the tenant id is missing; the message names
                every variable that would have satisfied it.
            PayloadError: a numeric option is out of range, or an endpoint is not an http(s)
                URL or carries credentials (``user:password@``, refused, never echoed).

        Leading and trailing whitespace (a newline from a file) is stripped from the client id,
        secret and tenant id, and a DEBUG line says so (without the value).
        """
        environ: Mapping[str, str] = os.environ if env is None else env
        resolved_id = _resolve("client_id", client_id, environ)
        resolved_secret = _resolve("client_secret", client_secret, environ)
        resolved_tsg = _resolve("tsg_id", tsg_id, environ)
        for setting, value in (
            ("client_id", resolved_id),
            ("client_secret", resolved_secret),
            ("tsg_id", resolved_tsg),
        ):
            if not value:
                raise MissingVariableError(setting, ENV_NAMES[setting])
        root = environ.get(ROOT_ENDPOINT_ENV, "").rstrip("/")
        data = _resolve("data_endpoint", data_endpoint, environ) or (
            f"{root}/data" if root else DEFAULT_DATA_ENDPOINT
        )
        mgmt = _resolve("mgmt_endpoint", mgmt_endpoint, environ) or (
            f"{root}/mgmt" if root else DEFAULT_MGMT_ENDPOINT
        )
        token = _resolve("token_endpoint", token_endpoint, environ) or DEFAULT_TOKEN_ENDPOINT
        for label, url in (
            ("data_endpoint", data),
            ("mgmt_endpoint", mgmt),
            ("token_endpoint", token),
        ):
            check_endpoint(label, url)
        if max_retries < 0:
            raise PayloadError("max_retries must be >= 0")
        if max_connections < 0 or max_connections_per_host < 0:
            raise PayloadError("connection limits must be >= 0 (0 means unlimited)")
        if retry_after_cap < 0:
            raise PayloadError("retry_after_cap must be >= 0")
        assert resolved_id is not None
        assert resolved_secret is not None
        assert resolved_tsg is not None
        return cls(
            client_id=resolved_id,
            client_secret=resolved_secret,
            tsg_id=resolved_tsg,
            data_endpoint=data.rstrip("/"),
            mgmt_endpoint=mgmt.rstrip("/"),
            token_endpoint=token,
            max_retries=max_retries,
            timeouts=timeouts or Timeouts(),
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            ssl_context=ssl_context,
            user_agent_suffix=user_agent_suffix,
            retry_after_cap=retry_after_cap,
            trust_env=trust_env,
        )
