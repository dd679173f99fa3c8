"""modelsec: the Python SDK and toolkit for the Prisma AIRS Model Security API.

Example:
    >>> import modelsec
    >>> async def main():  # doctest: +SKIP
    ...     async with modelsec.AsyncModelSecurityClient() as client:
    ...         scan = await client.scans.get("...")
"""

from modelsec._version import __version__
from modelsec.client import AsyncModelSecurityClient
from modelsec.config import ClientConfig, Timeouts
from modelsec.errors import (
    AISecSDKException,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
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
from modelsec.sync import ModelSecurityClient
from modelsec.workflows import IDEMPOTENCY_LABEL, ScanProgress, ScanResult

__all__ = [
    "IDEMPOTENCY_LABEL",
    "AISecSDKException",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncModelSecurityClient",
    "AuthenticationError",
    "BadRequestError",
    "ClientConfig",
    "ConflictError",
    "ErrorType",
    "InternalServerError",
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
