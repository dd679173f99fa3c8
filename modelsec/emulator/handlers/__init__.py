"""The emulator's operation handlers, one module per API area (as ``modelsec.resources``).

``HANDLERS`` maps every operation id of the route table to its handler.

Example:
    >>> from modelsec.emulator.spec import load_routes
    >>> sorted({r.operation_id for r in load_routes().routes} - set(HANDLERS))
    []
"""

from __future__ import annotations

from modelsec.emulator.handlers import (
    auth,
    custom_rules,
    models,
    scans,
    security_groups,
    security_rules,
)
from modelsec.emulator.handlers.common import Ctx, Handler, HttpError

__all__ = ["HANDLERS", "Ctx", "Handler", "HttpError"]

HANDLERS: dict[str, Handler] = {
    **scans.HANDLERS,
    **models.HANDLERS,
    **security_groups.HANDLERS,
    **security_rules.HANDLERS,
    **custom_rules.HANDLERS,
    **auth.HANDLERS,
}
