"""Model URIs of object storage and registries, parsed without any I/O.

Each platform's own conventions:

==================================================================  ============
``s3://<bucket>/<prefix>``                                          S3
``gs://<bucket>/<prefix>``                                          GCS
``https://<account>.blob.core.windows.net/<container>/<prefix>``    AZURE
``az://<container>/<prefix>`` (account from the environment)        AZURE
``https://<host>/artifactory/<repo>/<path>``, ``https://<x>.jfrog.io/...``  ARTIFACTORY
``https://<host>/<group>/<project>/-/ml/models/<id>[/versions/<v>]``  GITLAB
==================================================================  ============
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import attrs

from modelsec.errors import PayloadError

__all__ = ["Location", "is_storage_uri", "parse_location", "redact_uri"]

_SECRET_QUERY = re.compile(r"\?.*$", re.S)


def redact_uri(uri: str) -> str:
    """The URI without its query (an Azure SAS token) or user info, fit for messages and logs.

    Example:
        >>> redact_uri("https://acct.blob.core.windows.net/c/m?sv=2022&sig=SECRET")
        'https://acct.blob.core.windows.net/c/m?***'
        >>> redact_uri("https://user:pw@host/artifactory/r/m")
        'https://***@host/artifactory/r/m'
    """
    text = _SECRET_QUERY.sub("?***", uri)
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1***@", text)


@attrs.frozen(kw_only=True)
class Location:
    """Where a model lives: the platform (``kind``) and its coordinates.

    ``container`` is the bucket (S3, GCS), the container (Azure), the repository (Artifactory)
    or the project path (GitLab); ``prefix`` the model's path inside it, without a leading
    ``/`` (``""``: all of it). ``base_url`` is the server for the HTTP platforms.
    """

    kind: str
    source_type: str
    uri: str = attrs.field(repr=False)
    container: str
    prefix: str
    account: str | None = None
    base_url: str | None = None
    sas: str | None = attrs.field(default=None, repr=False)
    model_id: str | None = None
    version_id: str | None = None

    @property
    def display(self) -> str:
        """The URI as given, redacted."""
        return redact_uri(self.uri)

    @property
    def layout(self) -> tuple[str, ...]:
        """Folders under a download directory (the emulator's hub layout)."""
        prefix = tuple(p for p in self.prefix.split("/") if p)
        if self.kind == "azure":
            return ("azure", self.account or "account", self.container, *prefix)
        if self.kind in ("artifactory", "gitlab"):
            host = urlsplit(self.base_url or "").hostname or "host"
            path = tuple(p for p in self.container.split("/") if p)
            if self.kind == "gitlab":
                tail = ("ml", "models", self.model_id or "", "versions", self.version_id or "")
                return ("gitlab", host, *path, *tuple(t for t in tail if t))
            return ("artifactory", host, *path, *prefix)
        return (self.kind, self.container, *prefix)


def _bad(uri: str, why: str) -> PayloadError:
    return PayloadError(f"{redact_uri(uri)}: {why}")


def _check_parts(uri: str, parts: list[str]) -> None:
    if any(p in (".", "..") for p in parts):
        raise _bad(uri, "'.' and '..' are not allowed in a model path")


def parse_location(uri: str) -> Location | None:
    """The storage location of ``uri``; ``None`` when it is not an object-storage or
    registry URI (a local path, Hugging Face). Raises ``PayloadError`` when it is one but
    malformed (no bucket...).

    Example:
        >>> loc = parse_location("s3://models/team/bert/")
        >>> loc.kind, loc.container, loc.prefix
        ('s3', 'models', 'team/bert/')
        >>> parse_location("https://acct.blob.core.windows.net/c/m").account
        'acct'
        >>> parse_location("hf://org/model") is None
        True
    """
    text = uri.strip()
    u = urlsplit(text)
    scheme = u.scheme.lower()
    if scheme in ("s3", "gs", "az"):
        container = u.netloc
        if not container:
            raise _bad(text, f"no {'container' if scheme == 'az' else 'bucket'} in the URI")
        if u.query or u.fragment or "@" in container:
            raise _bad(text, "unexpected query, fragment or user info in the URI")
        prefix = u.path.lstrip("/")
        _check_parts(text, prefix.split("/"))
        kind = {"s3": "s3", "gs": "gcs", "az": "azure"}[scheme]
        st = {"s3": "S3", "gs": "GCS", "az": "AZURE"}[scheme]
        return Location(kind=kind, source_type=st, uri=text, container=container, prefix=prefix)
    if scheme not in ("http", "https"):
        return None
    host = (u.hostname or "").lower()
    if host in ("huggingface.co", "www.huggingface.co", "hf.co"):
        return None
    path = unquote(u.path)
    parts = [p for p in path.split("/") if p]
    base = f"{scheme}://{u.netloc.rsplit('@', 1)[-1]}"
    if host.endswith(".blob.core.windows.net"):
        if not parts:
            raise _bad(text, "no container in the Azure URL")
        _check_parts(text, parts)
        return Location(
            kind="azure",
            source_type="AZURE",
            uri=text,
            container=parts[0],
            prefix="/".join(parts[1:]) + ("/" if path.endswith("/") and len(parts) > 1 else ""),
            account=host.split(".", 1)[0],
            base_url=base,
            sas=u.query or None,
        )
    if "/-/ml/models/" in path + "/":
        head, _, tail = path.partition("/-/ml/models")
        project = head.strip("/")
        rest = [p for p in tail.split("/") if p]
        if not project or not rest:
            raise _bad(text, "expected https://<host>/<group>/<project>/-/ml/models/<id>")
        _check_parts(text, project.split("/"))
        version = None
        if len(rest) >= 3 and rest[1] == "versions":
            version = rest[2]
        elif len(rest) != 1:
            raise _bad(text, "expected .../-/ml/models/<id> or .../-/ml/models/<id>/versions/<v>")
        if not rest[0].isdigit() or (version is not None and not version.isdigit()):
            raise _bad(text, "GitLab model and version ids are numbers")
        return Location(
            kind="gitlab",
            source_type="GITLAB",
            uri=text,
            container=project,
            prefix="",
            base_url=base,
            model_id=rest[0],
            version_id=version,
        )
    if host.endswith(".jfrog.io") or (parts and parts[0] == "artifactory"):
        if parts and parts[0] == "artifactory":
            parts = parts[1:]
        if not parts:
            raise _bad(text, "expected https://<host>/artifactory/<repo>/<path>")
        _check_parts(text, parts)
        return Location(
            kind="artifactory",
            source_type="ARTIFACTORY",
            uri=text,
            container=parts[0],
            prefix="/".join(parts[1:]),
            base_url=base,
        )
    return None


def is_storage_uri(uri: str) -> bool:
    """Whether ``uri`` names a model the client reads from storage itself (not Hugging Face,
    which the service fetches, nor a local path).

    Example:
        >>> is_storage_uri("s3://b/m"), is_storage_uri("hf://org/m"), is_storage_uri("./m")
        (True, False, False)
    """
    try:
        return parse_location(uri) is not None
    except PayloadError:
        return True  # malformed but meant for storage: reading it reports why
