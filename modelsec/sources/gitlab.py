"""The GitLab model registry over the REST API (aiohttp, no extra needed).

``https://<host>/<group>/<project>/-/ml/models/<id>[/versions/<v>]``. A model version is an
``ml_model`` package: the packages API lists the project's packages
(``GET /api/v4/projects/:id/packages?package_type=ml_model``, ``page``/``per_page`` with
``X-Next-Page``), the one whose web path is this version page is the version's package, its
files come from ``GET .../packages/:package_id/package_files`` and each is downloaded from
``GET .../packages/ml_models/:model_version_id/files/:file_name``. Without ``/versions/<v>`` the
model's newest version is scanned. ``GITLAB_TOKEN`` (``PRIVATE-TOKEN`` header) or, inside
GitLab CI, ``CI_JOB_TOKEN`` (``JOB-TOKEN``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from modelsec.sources.base import Source, SourceError, StorageObject
from modelsec.sources.http import HttpClient
from modelsec.sources.uri import Location

__all__ = ["GitLabSource", "gitlab_headers"]

_VARS = "GITLAB_TOKEN"
_MAX_PAGES = 1000


def gitlab_headers() -> dict[str, str]:
    """The authentication header from the environment (empty when anonymous).

    Example:
        >>> import os
        >>> os.environ.pop("GITLAB_TOKEN", None); os.environ.pop("CI_JOB_TOKEN", None)
        >>> gitlab_headers()
        {}
    """
    if os.environ.get("GITLAB_TOKEN"):
        return {"PRIVATE-TOKEN": os.environ["GITLAB_TOKEN"]}
    if os.environ.get("CI_JOB_TOKEN"):
        return {"JOB-TOKEN": os.environ["CI_JOB_TOKEN"]}
    return {}


class GitLabSource(Source):
    """One version of a model in a project's model registry."""

    ranged = False  # package file downloads are read forward (the scanner spools if needed)

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self.display = loc.display
        assert loc.base_url is not None
        self._http = HttpClient(
            loc.base_url, gitlab_headers(), display=loc.display, credential_vars=_VARS
        )
        self._api = f"{loc.base_url.rstrip('/')}/api/v4/projects/{quote(loc.container, safe='')}"
        self._version: str | None = loc.version_id

    def close(self) -> None:
        self._http.close()

    def _pages(self, url: str, params: dict[str, str], what: str) -> Iterator[Any]:
        page = "1"
        for _ in range(_MAX_PAGES):
            got = self._http.get_json(url, {**params, "per_page": "100", "page": page}, what=what)
            if got is None:
                raise SourceError(f"{self.display}: no such project, or no access to it")
            body, headers = got
            yield from body or []
            page = headers.get("X-Next-Page", "")
            if not page:
                return
        raise SourceError(f"{self.display}: {what}: more than {_MAX_PAGES} pages")

    def _package(self) -> dict[str, Any]:
        want = re.compile(rf"/-/ml/models/{re.escape(self.loc.model_id or '')}/versions/(\d+)/?$")
        best: tuple[int, dict[str, Any]] | None = None
        for pkg in self._pages(f"{self._api}/packages", {"package_type": "ml_model"}, "listing"):
            web = str((pkg.get("_links") or {}).get("web_path") or "")
            m = want.search(web)
            if m is None:
                continue
            if self._version is not None and m.group(1) == self._version:
                return dict(pkg)
            if self._version is None and (best is None or int(m.group(1)) > best[0]):
                best = (int(m.group(1)), dict(pkg))
        if best is None:
            what = "model version" if self._version is not None else "model (or it has no version)"
            raise SourceError(f"{self.display}: no such {what}")
        self._version = str(best[0])
        return best[1]

    def objects(self) -> list[StorageObject]:
        pkg = self._package()
        url = f"{self._api}/packages/{int(pkg['id'])}/package_files"
        out: list[StorageObject] = []
        for f in self._pages(url, {}, "listing files"):
            name = str(f["file_name"])
            out.append(StorageObject(name, name.lstrip("/"), int(f.get("size", 0))))
        return out

    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        url = f"{self._api}/packages/ml_models/{self._version}/files/{quote(obj.key, safe='/')}"
        return self._http.stream(url, offset, end, what=f"reading {obj.rel!r}")
