"""JFrog Artifactory over its REST API (aiohttp, no extra needed).

``https://<host>/artifactory/<repo>/<path>`` (and ``https://<name>.jfrog.io/artifactory/...``).
Credentials as JFrog's own clients read them: ``ARTIFACTORY_USERNAME`` + ``ARTIFACTORY_TOKEN``
(HTTP Basic), or ``ARTIFACTORY_TOKEN`` alone (an access token, ``Authorization: Bearer``);
neither: anonymous. A folder is listed with the storage API's file list
(``GET /artifactory/api/storage/<repo>/<path>?list&deep=1``); files are downloaded from
``/artifactory/<repo>/<path>`` with ranged reads.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from urllib.parse import quote

from modelsec.sources.base import Source, SourceError, StorageObject
from modelsec.sources.http import HttpClient
from modelsec.sources.uri import Location

__all__ = ["ArtifactorySource", "artifactory_headers"]

_VARS = "ARTIFACTORY_USERNAME and ARTIFACTORY_TOKEN"


def artifactory_headers() -> dict[str, str]:
    """The ``Authorization`` header from the environment (empty when anonymous).

    Example:
        >>> import os
        >>> os.environ.pop("ARTIFACTORY_USERNAME", None); os.environ.pop("ARTIFACTORY_TOKEN", None)
        >>> artifactory_headers()
        {}
    """
    user = os.environ.get("ARTIFACTORY_USERNAME")
    token = os.environ.get("ARTIFACTORY_TOKEN")
    if user and token:
        pair = base64.b64encode(f"{user}:{token}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    if token:
        return {"Authorization": f"Bearer {token}"}
    if user:
        raise SourceError("ARTIFACTORY_USERNAME is set but ARTIFACTORY_TOKEN is not")
    return {}


def _q(path: str) -> str:
    return quote(path, safe="/")


class ArtifactorySource(Source):
    """A model under an Artifactory repository path (a folder or one file)."""

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self.display = loc.display
        assert loc.base_url is not None
        self._http = HttpClient(
            loc.base_url, artifactory_headers(), display=loc.display, credential_vars=_VARS
        )
        self._root = f"{loc.base_url.rstrip('/')}/artifactory"
        self._path = loc.prefix.strip("/")

    def close(self) -> None:
        self._http.close()

    def objects(self) -> list[StorageObject]:
        repo = _q(self.loc.container)
        here = f"{repo}/{_q(self._path)}" if self._path else repo
        info = self._http.get_json(f"{self._root}/api/storage/{here}")
        if info is None:
            if self._path and self._http.get_json(f"{self._root}/api/storage/{repo}") is not None:
                raise SourceError(f"{self.display}: no such path in the repository")
            raise SourceError(f"{self.display}: no such repository or path")
        body = info[0] or {}
        if "children" not in body:  # a file
            name = self._path.rsplit("/", 1)[-1]
            return [StorageObject(self._path, name, int(body.get("size", 0)))]
        listed = self._http.get_json(
            f"{self._root}/api/storage/{here}",
            {"list": "", "deep": "1", "listFolders": "0"},
        )
        files = (listed[0] or {}).get("files") if listed else None
        out: list[StorageObject] = []
        for f in files or []:
            if f.get("folder"):
                continue
            rel = str(f["uri"]).lstrip("/")
            key = f"{self._path}/{rel}" if self._path else rel
            out.append(StorageObject(key, rel, int(f.get("size", 0))))
        return out

    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        url = f"{self._root}/{_q(self.loc.container)}/{_q(obj.key)}"
        return self._http.stream(url, offset, end, what=f"reading {obj.rel!r}")
