"""Lazy imports of optional extras, with a one-line error naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "import_extra"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra to install.

    Example:
        >>> print(MissingExtraError("ray", "ray"))
        this needs the optional extra 'ray' (ray is missing): pip install 'modelsec[ray]'
    """

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this needs the optional extra {extra!r} ({module} is missing): "
            f"pip install 'modelsec[{extra}]'",
            name=module,
        )
        self.extra = extra


def import_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming ``extra``.

    Example:
        >>> import_extra("json", "none").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra) from exc
