"""Test-suite wide setup."""

from __future__ import annotations

import inspect
from typing import Any
from unittest import mock

import aiohttp
import aioresponses.core

# aioresponses 0.7.9 builds ClientResponse without the ``stream_writer`` argument that
# aiohttp 3.14 made required. Give it a subclass that supplies a harmless one, only when the
# installed aiohttp needs it, so the suite works on every aiohttp we support.
if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:

    class _CompatClientResponse(aiohttp.ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
            super().__init__(method, url, **kwargs)

    aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
