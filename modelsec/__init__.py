"""modelsec: the Python SDK and toolkit for the Prisma AIRS Model Security API."""

from modelsec._version import __version__

__all__ = ["__version__"]
