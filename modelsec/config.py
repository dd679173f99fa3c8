"""Client configuration: credentials, endpoints, timeouts and limits.

Each setting comes from, in order: the constructor argument, ``PANW_MODEL_SEC_<X>``,
``PANW_MGMT_<X>`` (credentials, tenant and token endpoint only), the vendor client's
``MODEL_SECURITY_*`` names, then the default. ``MODEL_SECURITY_API_ENDPOINT`` is the
``.../aims`` root: the data plane is root + ``/data`` and the management plane root + ``/mgmt``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import attrs

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

    ``total`` bounds one SDK call including its retries and backoff sleeps.

    Example:
        >>> Timeouts(connect=5, read=30, total=120)
        Timeouts(connect=5, read=30, total=120)
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    total: float | None = 300.0


def _resolve(name: str, explicit: str | None, env: Mapping[str, str]) -> str | None:
    if explicit is not None and explicit != "":
        return explicit
    for var in ENV_NAMES[name]:
        value = env.get(var)
        if value:
            return value
    return None


def _secret_repr(value: str) -> str:
    return "'***'" if value else "''"


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
    data_endpoint: str = DEFAULT_DATA_ENDPOINT
    mgmt_endpoint: str = DEFAULT_MGMT_ENDPOINT
    token_endpoint: str = DEFAULT_TOKEN_ENDPOINT
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
            PayloadError: a numeric option is out of range or an endpoint is not an http(s) URL.
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
            if not url.startswith(("https://", "http://")):
                raise PayloadError(f"{label} must be an http(s) URL, got {url!r}")
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
