"""Errors raised by modelsec.

Every error is an :class:`AISecSDKException` (alias :class:`ModelSecError`) carrying an
``error_type`` from :class:`ErrorType`, so both styles work::

    try:
        await client.scans.get(uuid)
    except NotFoundError:
        ...
    except AISecSDKException as err:
        if err.error_type is ErrorType.SERVER_SIDE_ERROR:
            ...

HTTP errors also carry ``status_code``, ``body`` (parsed JSON or text), ``request_id`` and
``retry_after``. Messages never contain a token, a client secret or a credential URL.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelsec.types.data import Scan, ValidationErrorItem

__all__ = [
    "AISecSDKException",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ErrorType",
    "InternalServerError",
    "MissingVariableError",
    "ModelSecError",
    "NotFoundError",
    "OAuthError",
    "PayloadError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ScanTimeoutError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "error_message_from_body",
    "status_error_class",
]


class ErrorType(str, enum.Enum):
    """The kind of failure, as in the vendor's SDKs (``switch (err.errorType)``)."""

    OAUTH_ERROR = "OAUTH_ERROR"
    CLIENT_SIDE_ERROR = "CLIENT_SIDE_ERROR"
    SERVER_SIDE_ERROR = "SERVER_SIDE_ERROR"
    MISSING_VARIABLE = "MISSING_VARIABLE"
    USER_REQUEST_PAYLOAD_ERROR = "USER_REQUEST_PAYLOAD_ERROR"
    RESPONSE_VALIDATION = "RESPONSE_VALIDATION"

    def __str__(self) -> str:
        return str(self.value)


class AISecSDKException(Exception):
    """Base of every modelsec error.

    Example:
        >>> err = PayloadError("limit must be between 1 and 100")
        >>> err.error_type
        <ErrorType.USER_REQUEST_PAYLOAD_ERROR: 'USER_REQUEST_PAYLOAD_ERROR'>
        >>> str(err)
        'limit must be between 1 and 100'
    """

    default_error_type: ErrorType = ErrorType.CLIENT_SIDE_ERROR

    def __init__(self, message: str, *, error_type: ErrorType | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type: ErrorType = error_type or self.default_error_type

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, error_type={self.error_type.value})"


ModelSecError = AISecSDKException


class PayloadError(AISecSDKException, ValueError):
    """A bad argument, found before any request was sent (USER_REQUEST_PAYLOAD_ERROR)."""

    default_error_type = ErrorType.USER_REQUEST_PAYLOAD_ERROR


class MissingVariableError(AISecSDKException):
    """A required setting (credential, tenant) was given neither as argument nor in the
    environment. ``variables`` lists every name that would have satisfied it."""

    default_error_type = ErrorType.MISSING_VARIABLE

    def __init__(self, setting: str, variables: Sequence[str]) -> None:
        self.setting = setting
        self.variables = tuple(variables)
        names = ", ".join(self.variables)
        super().__init__(f"missing {setting}: pass {setting}= or set one of {names}")


class OAuthError(AISecSDKException):
    """The token endpoint refused the credentials or answered something unusable."""

    default_error_type = ErrorType.OAUTH_ERROR

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.request_id = request_id


class ResponseValidationError(AISecSDKException):
    """A response did not have the documented shape. ``errors`` names each bad field's path."""

    default_error_type = ErrorType.RESPONSE_VALIDATION

    def __init__(self, message: str, *, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class APIConnectionError(AISecSDKException):
    """The service could not be reached, or the connection broke (after retries)."""

    default_error_type = ErrorType.SERVER_SIDE_ERROR


class APITimeoutError(APIConnectionError):
    """A request, or the overall deadline of a call, timed out (after retries)."""


class ClientClosedError(AISecSDKException, RuntimeError):
    """The client was used after ``close()`` (or after leaving its ``with`` block).

    Also a ``RuntimeError``, which is what it used to be.

    Example:
        >>> err = ClientClosedError("the modelsec client is closed")
        >>> isinstance(err, AISecSDKException), err.error_type.value
        (True, 'CLIENT_SIDE_ERROR')
    """

    default_error_type = ErrorType.CLIENT_SIDE_ERROR


class WaitTimeoutError(AISecSDKException, TimeoutError):
    """A wait gave up before the resource settled; ``last`` is the last state seen."""

    default_error_type = ErrorType.CLIENT_SIDE_ERROR

    def __init__(self, message: str, *, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


class ScanTimeoutError(WaitTimeoutError):
    """``scans.wait()`` gave up before the scan settled; ``last`` is the last ``Scan`` seen.

    Example:
        >>> err = ScanTimeoutError("scan still PENDING after 600s")
        >>> isinstance(err, TimeoutError)
        True
    """

    last: Scan | None


class APIStatusError(AISecSDKException):
    """The service answered with an error status.

    Attributes:
        status_code: the HTTP status.
        body: the parsed JSON body, or the text when it was not JSON.
        request_id: the service's request id header, when sent.
        retry_after: seconds the service asked to wait (``Retry-After``), when sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        error_type = (
            ErrorType.SERVER_SIDE_ERROR if status_code >= 500 else ErrorType.CLIENT_SIDE_ERROR
        )
        super().__init__(message, error_type=error_type)
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after
        self.method = method
        self.url = url


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401 from the API even after a fresh token."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials lack a permission for this operation."""


class NotFoundError(APIStatusError):
    """404: unknown id, or a path sent to the wrong plane."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422: the service rejected the request; ``detail`` is FastAPI's parsed list."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.detail: list[ValidationErrorItem] = _parse_detail(self.body)


class RateLimitError(APIStatusError):
    """429 after retries, or a ``Retry-After`` longer than the client's cap."""


class InternalServerError(APIStatusError):
    """5xx after retries."""


_STATUS_CLASSES: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The error class for an HTTP status.

    Example:
        >>> status_error_class(404).__name__
        'NotFoundError'
        >>> status_error_class(503).__name__
        'InternalServerError'
    """
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return InternalServerError
    return APIStatusError


def _parse_detail(body: Any) -> list[ValidationErrorItem]:
    from modelsec.types.data import ValidationErrorItem

    if not isinstance(body, Mapping):
        return []
    detail = body.get("detail")
    if not isinstance(detail, list):
        return []
    items: list[ValidationErrorItem] = []
    for entry in detail:
        if isinstance(entry, Mapping):
            try:
                items.append(ValidationErrorItem.from_dict(entry))
            except ResponseValidationError:
                continue
    return items


def _format_detail_entry(entry: Any) -> str:
    if isinstance(entry, Mapping):
        loc = entry.get("loc")
        msg = entry.get("msg") or entry.get("message") or json.dumps(entry)
        if isinstance(loc, list) and loc:
            return f"{'.'.join(str(p) for p in loc)}: {msg}"
        return str(msg)
    return str(entry)


def error_message_from_body(body: Any, *, limit: int = 500) -> str | None:
    """Pull a readable message out of an error body of any envelope this vendor uses.

    Looks at ``detail`` (a string or FastAPI's list), ``error_message``, ``message``,
    ``error.message`` and ``error_description``; a non-JSON body (an HTML 502 page) gives its
    text without tags, trimmed.

    Example:
        >>> error_message_from_body({"detail": [{"loc": ["query", "limit"], "msg": "too big",
        ...     "type": "x"}]})
        'query.limit: too big'
        >>> error_message_from_body({"error": {"message": "nope"}})
        'nope'
    """
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, str) and detail:
            return detail[:limit]
        if isinstance(detail, list) and detail:
            return "; ".join(_format_detail_entry(e) for e in detail)[:limit]
        for key in ("error_message", "message", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:limit]
        error = body.get("error")
        if isinstance(error, Mapping):
            value = error.get("message")
            if isinstance(value, str) and value:
                return value[:limit]
        if isinstance(error, str) and error:
            return error[:limit]
        return None
    if isinstance(body, str):
        text = _strip_html(body).strip()
        if not text:
            return None
        return text[:limit] + ("..." if len(text) > limit else "")
    return None


def _strip_html(text: str) -> str:
    if "<" not in text:
        return " ".join(text.split())
    out: list[str] = []
    in_tag = False
    skip_depth = ""
    lowered = text.lower()
    i = 0
    while i < len(text):
        ch = text[i]
        if skip_depth:
            end = lowered.find(f"</{skip_depth}", i)
            if end == -1:
                break
            i = end
            skip_depth = ""
            continue
        if ch == "<":
            in_tag = True
            for tag in ("script", "style"):
                if lowered.startswith(f"<{tag}", i):
                    skip_depth = tag
            i += 1
            continue
        if ch == ">" and in_tag:
            in_tag = False
            out.append(" ")
            i += 1
            continue
        if not in_tag:
            out.append(ch)
        i += 1
    return " ".join("".join(out).split())
