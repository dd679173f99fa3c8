"""GCS through its JSON API over aiohttp, for ``STORAGE_EMULATOR_HOST`` (emulators).

obstore lists GCS through the XML API, which emulators such as gcp-storage-emulator do not
serve; the JSON API (``/storage/v1/b/<bucket>/o``, ``nextPageToken`` pagination, ``alt=media``
downloads) is what the Google client libraries use with an emulator. Real GCS goes through
obstore and application default credentials (:mod:`modelsec.sources.objstore`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote

from modelsec.sources.base import Source, SourceError, StorageObject, relative
from modelsec.sources.http import HttpClient
from modelsec.sources.uri import Location

__all__ = ["GCSJsonSource", "emulator_base"]


def emulator_base(host: str) -> str:
    """``STORAGE_EMULATOR_HOST`` as a base URL (the variable may omit the scheme).

    Example:
        >>> emulator_base("localhost:9023"), emulator_base("http://127.0.0.1:1/")
        ('http://localhost:9023', 'http://127.0.0.1:1')
    """
    host = host.strip().rstrip("/")
    return host if "://" in host else f"http://{host}"


class GCSJsonSource(Source):
    """A model under a ``gs://`` prefix, listed and read through the JSON API."""

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self.display = loc.display
        base = emulator_base(os.environ.get("STORAGE_EMULATOR_HOST", ""))
        self._bucket_url = f"{base}/storage/v1/b/{quote(loc.container, safe='')}"
        self._http = HttpClient(
            base, {}, display=loc.display, credential_vars="STORAGE_EMULATOR_HOST"
        )

    def close(self) -> None:
        self._http.close()

    def _list(self, prefix: str) -> list[StorageObject] | None:
        out: list[StorageObject] = []
        token: str | None = None
        while True:
            params = {"prefix": prefix, "maxResults": "1000"}
            if token:
                params["pageToken"] = token
            got = self._http.get_json(f"{self._bucket_url}/o", params)
            if got is None:
                return None
            body = got[0] or {}
            for item in body.get("items") or []:
                name = str(item["name"])
                out.append(
                    StorageObject(
                        name, relative(name, prefix), int(item.get("size", 0)), item.get("etag")
                    )
                )
            token = body.get("nextPageToken")
            if not token:
                return out

    def objects(self) -> list[StorageObject]:
        prefix = self.loc.prefix
        folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        objects = self._list(folder)
        if objects is None:
            raise SourceError(f"{self.display}: no such bucket")
        if not objects and prefix and not prefix.endswith("/"):
            got = self._http.get_json(f"{self._bucket_url}/o/{quote(prefix, safe='')}")
            if got is not None:
                meta = got[0]
                objects = [
                    StorageObject(prefix, relative(prefix, prefix), int(meta.get("size", 0)))
                ]
                folder = prefix
        return [o for o in objects if not o.key.endswith("/")]

    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        url = f"{self._bucket_url}/o/{quote(obj.key, safe='')}?alt=media"
        return self._http.stream(url, offset, end, what=f"reading {obj.rel!r}")
