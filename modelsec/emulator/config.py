"""The emulator's configuration: credentials and behaviour knobs.

Example:
    >>> cfg = EmulatorConfig({"id": Credential("id", "secret", ("123",))})
    >>> cfg.credentials["id"].tsg_ids, cfg.settle_delay
    (('123',), 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Credential", "EmulatorConfig"]


@dataclass
class Credential:
    """OAuth client credentials and the tenants (TSG ids) they may ask tokens for."""

    client_id: str
    client_secret: str
    tsg_ids: tuple[str, ...]


@dataclass
class EmulatorConfig:
    """Behaviour knobs of the emulator (see :class:`modelsec.emulator.Emulator`)."""

    credentials: dict[str, Credential]
    token_lifetime: float = 900.0
    settle_delay: float = 0.5
    activation_delay: float = 0.5
    hub: str | None = None
    pypi_lifetime: float = 3600.0
