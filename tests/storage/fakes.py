"""Loopback fakes of the REST endpoints the Artifactory and GitLab sources call.

Shaped from the vendors' public API documentation:

* Artifactory: ``GET /artifactory/api/storage/{repo}/{path}`` (folder info with ``children``,
  file info with ``size`` as a string), the same with ``?list&deep=1`` (the file list:
  ``files[{uri, size, folder, sha1, sha2}]``), ``GET /artifactory/{repo}/{path}`` (the bytes,
  ``Range`` honoured); errors ``{"errors": [{"status", "message"}]}``; HTTP Basic
  ``user:token`` or ``Authorization: Bearer <token>``.
* GitLab: ``GET /api/v4/projects/:id/packages`` (``package_type`` filter, ``page``/``per_page``
  with ``X-Next-Page``, ``X-Page``, ``X-Per-Page``, ``X-Total`` headers; each package with
  ``_links.web_path``), ``GET .../packages/:package_id/package_files`` (same pagination) and
  ``GET .../packages/ml_models/:model_version_id/files/(*path/):file_name``; ``PRIVATE-TOKEN``;
  errors ``{"message": "404 Project Not Found"}``. This fake serves at most ``page_cap`` items
  per page so that pagination is always exercised.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from typing import Any
from urllib.parse import unquote

from aiohttp import web


class ServerThread:
    """An aiohttp app on 127.0.0.1, ephemeral port, in a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()
        assert self._runner is not None
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _ranged(request: web.Request, data: bytes) -> web.Response:
    rng = request.headers.get("Range")
    if rng and rng.startswith("bytes="):
        start_s, _, end_s = rng[6:].partition("-")
        start = int(start_s)
        end = int(end_s) if end_s else len(data) - 1
        if start >= len(data):
            return web.Response(status=416)
        body = data[start : end + 1]
        return web.Response(
            status=206,
            body=body,
            headers={"Content-Range": f"bytes {start}-{start + len(body) - 1}/{len(data)}"},
        )
    return web.Response(body=data, headers={"Accept-Ranges": "bytes"})


# ------------------------------------------------------------------------------ Artifactory


class FakeArtifactory:
    """Repositories of files; ``folders`` holds explicitly created (possibly empty) folders."""

    def __init__(self, user: str, token: str) -> None:
        self.user = user
        self.token = token
        self.repos: dict[str, dict[str, bytes]] = {}
        self.folders: dict[str, set[str]] = {}
        self.requests: list[str] = []
        app = web.Application()
        app.router.add_get("/artifactory/api/storage/{tail:.*}", self.storage)
        app.router.add_get("/artifactory/{repo}/{path:.*}", self.download)
        self.server = ServerThread(app)

    def put(self, repo: str, path: str, data: bytes) -> None:
        self.repos.setdefault(repo, {})[path] = data

    def mkdir(self, repo: str, path: str) -> None:
        self.repos.setdefault(repo, {})
        self.folders.setdefault(repo, set()).add(path.strip("/"))

    def _authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        basic = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        return auth in (f"Basic {basic}", f"Bearer {self.token}")

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response(
            {"errors": [{"status": status, "message": message}]}, status=status
        )

    async def storage(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        if not self._authorised(request):
            return self._error(401, "Bad credentials")
        tail = unquote(request.match_info["tail"]).strip("/")
        repo, _, path = tail.partition("/")
        files = self.repos.get(repo)
        if files is None:
            return self._error(404, f"Repository {repo} not found")
        if path in files:
            data = files[path]
            return web.json_response(
                {
                    "repo": repo,
                    "path": "/" + path,
                    "size": str(len(data)),
                    "downloadUri": f"{self.server.url}/artifactory/{repo}/{path}",
                    "checksums": {"sha256": hashlib.sha256(data).hexdigest()},
                }
            )
        under = {p: d for p, d in files.items() if not path or p.startswith(path + "/")}
        is_folder = not path or under or path in self.folders.get(repo, set())
        if not is_folder:
            return self._error(404, "Unable to find item")
        cut = len(path) + 1 if path else 0
        if "list" in request.query:
            return web.json_response(
                {
                    "uri": f"{self.server.url}/artifactory/api/storage/{tail}",
                    "files": [
                        {
                            "uri": "/" + p[cut:],
                            "size": len(d),
                            "folder": False,
                            "sha1": hashlib.sha1(d).hexdigest(),
                            "sha2": hashlib.sha256(d).hexdigest(),
                        }
                        for p, d in sorted(under.items())
                    ],
                }
            )
        children = sorted({"/" + p[cut:].split("/", 1)[0] for p in under})
        return web.json_response(
            {
                "repo": repo,
                "path": "/" + path,
                "children": [{"uri": c, "folder": False} for c in children],
            }
        )

    async def download(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        if not self._authorised(request):
            return self._error(401, "Bad credentials")
        files = self.repos.get(request.match_info["repo"], {})
        data = files.get(unquote(request.match_info["path"]))
        if data is None:
            return self._error(404, "Not Found")
        return _ranged(request, data)


# ------------------------------------------------------------------------------ GitLab


class FakeGitLab:
    """Projects holding ``ml_model`` packages, one per model version."""

    def __init__(self, token: str, page_cap: int = 2) -> None:
        self.token = token
        self.page_cap = page_cap
        # project path -> list of packages {id, name, version, model_id, version_id, files}
        self.projects: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 100
        app = web.Application()
        app.router.add_get("/api/v4/projects/{tail:.*}", self.projects_api)
        self.server = ServerThread(app)

    def add_version(
        self, project: str, model_id: int, version_id: int, name: str, files: dict[str, bytes]
    ) -> None:
        self._next_id += 1
        self.projects.setdefault(project, []).append(
            {
                "id": self._next_id,
                "name": name,
                "version": f"1.0.{version_id}",
                "package_type": "ml_model",
                "status": "default",
                "model_id": model_id,
                "version_id": version_id,
                "files": files,
            }
        )

    def _page(self, request: web.Request, items: list[Any]) -> web.Response:
        page = int(request.query.get("page", "1"))
        per = min(int(request.query.get("per_page", "20")), self.page_cap)
        chunk = items[(page - 1) * per : page * per]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per),
            "X-Total": str(len(items)),
            "X-Next-Page": str(page + 1) if page * per < len(items) else "",
        }
        return web.json_response(chunk, headers=headers)

    async def projects_api(self, request: web.Request) -> web.Response:
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return web.json_response({"message": "401 Unauthorized"}, status=401)
        raw = request.raw_path.split("?", 1)[0][len("/api/v4/projects/") :]
        project_enc, _, rest = raw.partition("/")
        project = unquote(project_enc)
        packages = self.projects.get(project)
        if packages is None:
            return web.json_response({"message": "404 Project Not Found"}, status=404)
        parts = rest.split("/")
        if parts == ["packages"]:
            items = [
                {
                    "id": p["id"],
                    "name": p["name"],
                    "version": p["version"],
                    "package_type": "ml_model",
                    "status": "default",
                    "_links": {
                        "web_path": f"/{project}/-/ml/models/{p['model_id']}/versions/{p['version_id']}"
                    },
                }
                for p in packages
                if request.query.get("package_type") in (None, "ml_model")
            ]
            return self._page(request, items)
        if len(parts) == 3 and parts[0] == "packages" and parts[2] == "package_files":
            pkg = next((p for p in packages if str(p["id"]) == parts[1]), None)
            if pkg is None:
                return web.json_response({"message": "404 Package Not Found"}, status=404)
            files = [
                {
                    "id": i + 1,
                    "package_id": pkg["id"],
                    "file_name": name,
                    "size": len(data),
                    "file_sha256": hashlib.sha256(data).hexdigest(),
                }
                for i, (name, data) in enumerate(sorted(pkg["files"].items()))
            ]
            return self._page(request, files)
        if len(parts) >= 5 and parts[:2] == ["packages", "ml_models"] and parts[3] == "files":
            pkg = next((p for p in packages if str(p["version_id"]) == parts[2]), None)
            name = unquote("/".join(parts[4:]))
            if pkg is None or name not in pkg["files"]:
                return web.json_response({"message": "404 Not Found"}, status=404)
            return web.Response(body=pkg["files"][name])
        return web.json_response({"message": "404 Not Found"}, status=404)
