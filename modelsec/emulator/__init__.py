"""A faithful local emulator of the Model Security service (aiohttp.web on loopback).

Serves the token endpoint (``/oauth2/access_token``), the data plane (``/aims/data``) and the
management plane (``/aims/mgmt``) with every operation of the vendored specs plus the newer
custom-rules and snapshot-version operations; validates requests like the real FastAPI service;
settles scans in the background with :mod:`modelsec.policy` (and the offline scanner for
remote URIs resolved against a hub directory); injects faults deterministically.

Example:
    >>> import asyncio, aiohttp, base64
    >>> from modelsec.emulator import Emulator
    >>> async def main():
    ...     async with Emulator(port=0) as emu, aiohttp.ClientSession() as http:
    ...         basic = base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode())
    ...         auth = {"Authorization": "Basic " + basic.decode()}
    ...         form = {"grant_type": "client_credentials", "scope": f"tsg_id:{emu.tsg_id}"}
    ...         async with http.post(emu.token_endpoint, data=form, headers=auth) as r:
    ...             token = (await r.json())["access_token"]
    ...         hdrs = {"Authorization": f"Bearer {token}"}
    ...         async with http.get(emu.mgmt_endpoint + "/v1/security-groups", headers=hdrs) as r:
    ...             return sorted(g["name"] for g in (await r.json())["security_groups"])[:2]
    >>> asyncio.run(main())
    ['Default ARTIFACTORY', 'Default AZURE']

Run it from a shell with ``modelsec-emulator --port 0`` (prints its base URL).
"""

from modelsec.emulator.faults import Faults
from modelsec.emulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TSG_ID,
    Emulator,
    EmulatorThread,
)
from modelsec.emulator.stats import Stats

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_TSG_ID",
    "Emulator",
    "EmulatorThread",
    "Faults",
    "Stats",
]
