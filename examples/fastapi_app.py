"""A FastAPI service that gates models: one async client for the app's lifespan.

    pip install fastapi uvicorn python-multipart
    uvicorn examples.fastapi_app:app

Endpoints:
    POST /scan          {"model_uri": "hf://org/model"} -> the verdict and its violations.
                        Remote URIs only (hf://, s3://, gs://, Azure, Artifactory, GitLab):
                        a path would make the server scan its own disk.
    POST /scan/upload   a model file upload, scanned locally and judged by the service
    GET  /scans/{uuid}  one scan

Each scan goes to the security group of its source type (a group applies to one source type):
``MODELSEC_GROUP_<SOURCE_TYPE>`` (e.g. ``MODELSEC_GROUP_HUGGING_FACE=<uuid>``) when set, else
the tenant's ``Default <SOURCE_TYPE>`` group. ``passed`` is True only for an ALLOWED verdict
on a model in which at least one file was judged (``ScanResult.is_allowed``).

``async def`` routes share the one ``AsyncModelSecurityClient`` (its connection pool and its
token); a plain ``def`` route, which FastAPI runs in a thread pool, could use the sync
``ModelSecurityClient`` instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
from pydantic import BaseModel

from modelsec import AsyncModelSecurityClient, NotFoundError, PayloadError, ScanResult
from modelsec.types import SourceType
from modelsec.workflows import source_type_of


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Settings from the environment (PANW_MODEL_SEC_* ...); tests override via app.state.
    options: dict[str, Any] = getattr(app.state, "modelsec_options", {})
    async with AsyncModelSecurityClient(**options) as client:
        app.state.modelsec = client
        yield


app = FastAPI(title="model gate", lifespan=lifespan)


def get_client(request: Request) -> AsyncModelSecurityClient:
    client: AsyncModelSecurityClient = request.app.state.modelsec
    return client


Client = Annotated[AsyncModelSecurityClient, Depends(get_client)]


async def group_uuid(client: AsyncModelSecurityClient, source_type: str) -> str:
    configured = os.environ.get(f"MODELSEC_GROUP_{source_type}")
    if configured:
        return configured
    page = await client.security_groups.list(
        search_query=f"Default {source_type}", source_types=[source_type]
    )
    for group in page.security_groups:
        if group.name == f"Default {source_type}":
            return group.uuid
    raise HTTPException(
        500, f"no security group for {source_type}; set MODELSEC_GROUP_{source_type}"
    )


class ScanRequest(BaseModel):
    model_uri: str


def verdict(result: ScanResult) -> dict[str, Any]:
    scan = result.scan
    return {
        "scan_uuid": scan.uuid if scan else None,
        "security_group_name": scan.security_group_name if scan else None,
        "outcome": str(result.outcome) if result.outcome else None,
        "passed": result.is_allowed,
        "nothing_judged": result.nothing_judged,
        "violations": [
            {"rule": v.rule_name, "description": v.description, "file": v.file, "threat": v.threat}
            for v in result.violations
        ],
    }


@app.post("/scan")
async def scan_uri(body: ScanRequest, client: Client) -> dict[str, Any]:
    source_type = source_type_of(body.model_uri)
    if source_type == SourceType.LOCAL:
        # A path (or file:// or an unknown scheme) would be scanned on this server's own disk.
        raise HTTPException(
            422,
            "model_uri must be a remote model URI (hf://, s3://, gs://, https://...); "
            "upload local files to /scan/upload",
        )
    try:
        result = await client.scan(
            body.model_uri, security_group_uuid=await group_uuid(client, source_type.value)
        )
    except PayloadError as err:
        raise HTTPException(422, err.message) from None
    return verdict(result)


@app.post("/scan/upload")
async def scan_upload(file: UploadFile, client: Client) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / Path(file.filename or "model.bin").name
        # Copy in a worker thread: the event loop keeps serving other requests meanwhile.
        with target.open("wb") as out:
            await anyio.to_thread.run_sync(shutil.copyfileobj, file.file, out)
        result = await client.scan(target, security_group_uuid=await group_uuid(client, "LOCAL"))
    return verdict(result)


@app.get("/scans/{scan_uuid}")
async def get_scan(scan_uuid: str, client: Client) -> dict[str, Any]:
    try:
        scan = await client.scans.get(scan_uuid)
    except PayloadError as err:
        raise HTTPException(422, err.message) from None
    except NotFoundError:
        raise HTTPException(404, "no such scan") from None
    return scan.to_dict()
