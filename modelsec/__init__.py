"""modelsec: the Python SDK and toolkit for the Prisma AIRS Model Security API.

Example:
    >>> import modelsec
    >>> async def main():  # doctest: +SKIP
    ...     async with modelsec.AsyncModelSecurityClient() as client:
    ...         scan = await client.scans.get("...")
"""

from typing import TYPE_CHECKING, Any

from modelsec._version import __version__
from modelsec.config import ClientConfig, Timeouts
from modelsec.errors import (
    AISecSDKException,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    ErrorType,
    InternalServerError,
    MissingVariableError,
    ModelSecError,
    NotFoundError,
    OAuthError,
    PayloadError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ScanTimeoutError,
    UnprocessableEntityError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient
    from modelsec.journal import JournalError
    from modelsec.sync import ModelSecurityClient
    from modelsec.workflows import IDEMPOTENCY_LABEL, ScanProgress, ScanResult

# The clients (aiohttp, anyio's portal) load on first use, so that the offline scanner, the
# policy engine and the CLI's offline paths do not pay for the HTTP stack they never touch.
_LAZY = {
    "AsyncModelSecurityClient": "modelsec.client",
    "ModelSecurityClient": "modelsec.sync",
    "IDEMPOTENCY_LABEL": "modelsec.workflows",
    "ScanProgress": "modelsec.workflows",
    "ScanResult": "modelsec.workflows",
    "JournalError": "modelsec.journal",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelsec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "IDEMPOTENCY_LABEL",
    "AISecSDKException",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncModelSecurityClient",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ClientConfig",
    "ConflictError",
    "ErrorType",
    "InternalServerError",
    "JournalError",
    "MissingVariableError",
    "ModelSecError",
    "ModelSecurityClient",
    "NotFoundError",
    "OAuthError",
    "PayloadError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ScanProgress",
    "ScanResult",
    "ScanTimeoutError",
    "Timeouts",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
]
