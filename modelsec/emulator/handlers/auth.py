"""Authentication: the OAuth2 token endpoint, bearer-token checks and the PyPI URL operation.

Example:
    >>> from modelsec.emulator.config import Credential, EmulatorConfig
    >>> from modelsec.emulator.stats import Stats
    >>> auth = Tokens(EmulatorConfig({"id": Credential("id", "s", ("1",))}), Stats())
    >>> auth.issue("1", "id").startswith("emu-"), len(auth.tokens), auth.expire()
    (True, 1, 1)
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import math
import secrets
import time
from typing import Any

from aiohttp import web

from modelsec.emulator.config import EmulatorConfig
from modelsec.emulator.handlers.common import Ctx, Handler, json_response
from modelsec.emulator.stats import Stats
from modelsec.emulator.store import iso, utcnow

__all__ = ["HANDLERS", "TOKEN_PATH", "Tokens"]

TOKEN_PATH = "/oauth2/access_token"
_SWEEP_AT = 1024


class Tokens:
    """Issued bearer tokens: ``token -> (tsg_id, client_id, monotonic expiry)``."""

    def __init__(self, config: EmulatorConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self.tokens: dict[str, tuple[str, str, float]] = {}

    def issue(self, tsg_id: str, client_id: str) -> str:
        """A new token for ``client_id`` on tenant ``tsg_id``."""
        if len(self.tokens) >= _SWEEP_AT and len(self.tokens) % _SWEEP_AT == 0:
            # tokens are otherwise dropped only when presented after expiry
            now = time.monotonic()
            for t in [t for t, (_, _, exp) in self.tokens.items() if exp <= now]:
                del self.tokens[t]
        token = "emu-" + secrets.token_urlsafe(32)
        self.tokens[token] = (tsg_id, client_id, time.monotonic() + self.config.token_lifetime)
        self.stats.tokens_issued += 1
        return token

    def expire(self, tsg_id: str | None = None) -> int:
        """Invalidate every token (of one tenant); returns how many."""
        doomed = [t for t, (tsg, _, _) in self.tokens.items() if tsg_id in (None, tsg)]
        for t in doomed:
            del self.tokens[t]
        return len(doomed)

    def owner(self, request: web.Request) -> tuple[str, str, str] | None:
        """``(token, tsg_id, client_id)`` of a valid bearer token, else ``None``."""
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        entry = self.tokens.get(token)
        if entry is None:
            return None
        tsg, client, expires = entry
        if time.monotonic() >= expires:
            del self.tokens[token]
            return None
        return token, tsg, client

    async def endpoint(self, request: web.Request) -> web.Response:
        """``POST /oauth2/access_token`` (client credentials, Basic or form)."""
        self.stats.token_requests += 1
        if request.method != "POST":
            return json_response(
                405,
                {"error": "invalid_request", "error_description": "Use POST"},
                {"Allow": "POST"},
            )
        try:
            form = await request.post()
        except Exception:
            form = {}  # type: ignore[assignment]
        client_id = client_secret = None
        auth = request.headers.get("Authorization", "")
        scheme, _, b64 = auth.partition(" ")
        if scheme.lower() == "basic" and b64:
            try:
                raw = base64.b64decode(b64.strip(), validate=True).decode()
                client_id, _, client_secret = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        if client_id is None and form.get("client_id"):
            client_id = str(form.get("client_id"))
            client_secret = str(form.get("client_secret", ""))
        grant = form.get("grant_type")
        if not grant:
            return json_response(
                400, {"error": "invalid_request", "error_description": "Missing grant_type"}
            )
        if grant != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Unsupported grant type: {grant!s}",
                },
            )
        cred = self.config.credentials.get(client_id or "")
        # compare_digest takes str only when ASCII: compare the UTF-8 bytes (surrogates
        # from an undecodable header kept distinct, never an exception).
        given = (client_secret or "").encode("utf-8", "surrogatepass")
        if cred is None or not secrets.compare_digest(
            cred.client_secret.encode("utf-8", "surrogatepass"), given
        ):
            return json_response(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                {"WWW-Authenticate": 'Basic realm="oauth2"'},
            )
        scope = str(form.get("scope", ""))
        tsgs = [s[len("tsg_id:") :] for s in scope.split() if s.startswith("tsg_id:")]
        if len(tsgs) != 1 or not tsgs[0]:
            return json_response(
                400,
                {"error": "invalid_scope", "error_description": "scope must be tsg_id:<TSG_ID>"},
            )
        if tsgs[0] not in cred.tsg_ids:
            return json_response(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": f"Client is not authorized for tsg_id {tsgs[0]}",
                },
            )
        token = self.issue(tsgs[0], cred.client_id)
        lifetime = self.config.token_lifetime
        return json_response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": max(1, math.floor(lifetime)),
                "scope": f"profile tsg_id:{tsgs[0]} email",
            },
        )


async def get_pypi_url(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/pypi/authenticate``: a short-lived index URL with a fresh credential."""
    cred = secrets.token_urlsafe(24)
    expires = utcnow() + _dt.timedelta(seconds=ctx.service.config.pypi_lifetime)
    return 200, {
        "url": (
            f"https://oauth2accesstoken:{cred}@us-python.pkg.dev/"
            "emulated-project/model-security-client/simple/"
        ),
        "expires_at": iso(expires),
    }


HANDLERS: dict[str, Handler] = {"get_pypi_url": get_pypi_url}
