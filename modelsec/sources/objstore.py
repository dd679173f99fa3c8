"""S3, GCS and Azure Blob through ``obstore`` (the ``storage`` extra), with each cloud's own
credential chain.

* S3: the AWS chain obstore implements (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
  ``AWS_SESSION_TOKEN``, web identity, ECS and EC2 metadata), ``AWS_PROFILE`` through boto3 when
  it is installed, ``AWS_REGION``/``AWS_DEFAULT_REGION``, and S3-compatible endpoints through
  ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (as the AWS SDKs read them).
* GCS: application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, the gcloud ADC file,
  the metadata server); ``STORAGE_EMULATOR_HOST`` goes to :mod:`modelsec.sources.gcs_json`.
* Azure: ``AZURE_STORAGE_CONNECTION_STRING`` (parsed here: obstore does not read it), an account
  key (``AZURE_STORAGE_ACCOUNT_KEY``), a SAS (in the URL, or ``AZURE_STORAGE_SAS_TOKEN``), else
  obstore's default chain (service principal, workload identity, managed identity, Azure CLI).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from modelsec.sources.base import Source, SourceError, StorageObject, relative
from modelsec.sources.uri import Location

__all__ = ["ObjectStoreSource", "parse_connection_string"]

EXTRA_HINT = "pip install 'modelsec[storage]'"
_CHUNK = 1 << 20


def _obstore() -> Any:
    # Imported by name, typed Any: the module type-checks with and without the extra installed.
    try:
        obstore = importlib.import_module("obstore")
    except ImportError:
        raise SourceError(
            f"reading S3, GCS and Azure models needs the 'storage' extra: {EXTRA_HINT}"
        ) from None
    return obstore


def _store_class(name: str) -> Any:
    _obstore()
    return getattr(importlib.import_module("obstore.store"), name)


def parse_connection_string(text: str) -> dict[str, str]:
    """An Azure Storage connection string's fields (``AccountName``, ``AccountKey``,
    ``BlobEndpoint``, ``SharedAccessSignature``, ...), with ``UseDevelopmentStorage=true``
    expanded to Azurite's well-known account.

    Example:
        >>> cs = "AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acct;"
        >>> sorted(parse_connection_string(cs))
        ['AccountKey', 'AccountName', 'BlobEndpoint']
    """
    fields: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise SourceError("AZURE_STORAGE_CONNECTION_STRING is not 'Key=Value;...'")
        fields[key.strip()] = value.strip()
    if fields.get("UseDevelopmentStorage", "").lower() == "true":
        fields.setdefault("AccountName", "devstoreaccount1")
        fields.setdefault(
            "AccountKey",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        )
        fields.setdefault("BlobEndpoint", "http://127.0.0.1:10000/devstoreaccount1")
    return fields


def _client_options(endpoint: str | None) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=10),
        "timeout": timedelta(minutes=30),  # a whole streamed GET of a large object
    }
    if endpoint and endpoint.lower().startswith("http://"):
        opts["allow_http"] = True
    return opts


_RETRY = {
    "max_retries": 5,
    "retry_timeout": timedelta(minutes=3),
    "backoff": {"init_backoff": timedelta(milliseconds=200), "max_backoff": timedelta(seconds=8)},
}


def _s3_store(loc: Location) -> Any:
    S3Store = _store_class("S3Store")

    config: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        config["endpoint"] = endpoint
        config["virtual_hosted_style_request"] = False
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        config["region"] = region
    provider = None
    if os.environ.get("AWS_PROFILE") and not os.environ.get("AWS_ACCESS_KEY_ID"):
        try:
            boto3 = importlib.import_module("boto3")
            provider_class = importlib.import_module("obstore.auth.boto3").Boto3CredentialProvider
        except ImportError:
            raise SourceError(
                "AWS_PROFILE needs boto3 to read the profile: pip install boto3"
            ) from None
        provider = provider_class(boto3.Session(profile_name=os.environ["AWS_PROFILE"]))
        if not region:
            config["region"] = boto3.Session(profile_name=os.environ["AWS_PROFILE"]).region_name
    return S3Store(
        loc.container,
        config=config,
        client_options=_client_options(endpoint),
        retry_config=_RETRY,
        credential_provider=provider,
    )


def _gcs_store(loc: Location) -> Any:
    _obstore()
    GCSStore = _store_class("GCSStore")

    return GCSStore(
        loc.container,
        client_options=_client_options(None),
        retry_config=_RETRY,
    )


def _azure_account(loc: Location, fields: dict[str, str]) -> str:
    account = (
        loc.account
        or fields.get("AccountName")
        or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        or os.environ.get("AZURE_STORAGE_ACCOUNT")
    )
    if not account:
        raise SourceError(
            f"{loc.display}: az:// needs the storage account: set AZURE_STORAGE_ACCOUNT_NAME "
            "(or AZURE_STORAGE_CONNECTION_STRING), or use "
            "https://<account>.blob.core.windows.net/<container>/<prefix>"
        )
    return account


def _azure_store(loc: Location) -> Any:
    _obstore()
    AzureStore = _store_class("AzureStore")

    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    fields = parse_connection_string(conn) if conn else {}
    account = _azure_account(loc, fields)
    if fields.get("AccountName") and fields["AccountName"] != account:
        fields = {}  # the connection string is for another account
    config: dict[str, Any] = {"account_name": account}
    endpoint = fields.get("BlobEndpoint")
    if endpoint:
        config["endpoint"] = endpoint.rstrip("/")
    sas = (
        loc.sas or fields.get("SharedAccessSignature") or os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    )
    key = fields.get("AccountKey") or os.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
    if sas:
        config["sas_key"] = sas.lstrip("?")
    elif key:
        config["account_key"] = key
    if endpoint and urlsplit(endpoint).scheme == "http":
        host = (urlsplit(endpoint).hostname or "").lower()
        if host not in ("127.0.0.1", "localhost", "::1") and (sas or key):
            raise SourceError(f"{loc.display}: refusing to send Azure credentials over plain http")
    return AzureStore(
        loc.container,
        config=config,
        client_options=_client_options(endpoint),
        retry_config=_RETRY,
    )


class ObjectStoreSource(Source):
    """A model under a bucket prefix (S3, GCS, Azure), read through obstore.

    The prefix is a folder (``s3://b/models/bert`` lists ``models/bert/...``, never
    ``models/bert2``) or, when nothing is under it, the single object it names.
    """

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self.display = loc.display
        self._obs = _obstore()
        builders = {"s3": _s3_store, "gcs": _gcs_store, "azure": _azure_store}
        try:
            self._store = builders[loc.kind](loc)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(
                f"{loc.display}: bad storage configuration ({_first_line(exc)})"
            ) from None

    def fail(self, exc: BaseException, what: str) -> SourceError:
        return SourceError(f"{self.display}: {what}: {_describe(exc)}")

    def objects(self) -> list[StorageObject]:
        prefix = self.loc.prefix
        folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        try:
            objects = _without_markers(self._list(folder), folder)
            if not objects and prefix and not prefix.endswith("/"):
                meta = self._obs.head(self._store, prefix)
                objects = [(str(meta["path"]), int(meta["size"]), meta.get("e_tag"))]
                folder = prefix
        except Exception as exc:
            if _kind(exc) == "not_found":
                if self._bucket_exists():
                    raise SourceError(f"{self.display}: no objects under this prefix") from None
                raise SourceError(f"{self.display}: no such bucket or container") from None
            raise self.fail(exc, "listing failed") from None
        return [StorageObject(k, relative(k, folder), size, etag) for k, size, etag in objects]

    def _list(self, folder: str) -> list[tuple[str, int, str | None]]:
        out: list[tuple[str, int, str | None]] = []
        for batch in self._obs.list(self._store, folder or None, chunk_size=1000):
            for meta in batch:
                out.append((str(meta["path"]), int(meta["size"]), meta.get("e_tag")))
        return out

    def _bucket_exists(self) -> bool:
        try:
            self._obs.list_with_delimiter(self._store, None)
        except Exception:
            return False
        return True

    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        options: dict[str, Any] = {}
        if end is not None:
            options["range"] = (offset, end)
        elif offset:
            options["range"] = {"offset": offset}
        try:
            result = self._obs.get(self._store, obj.key, options=options or None)
        except Exception as exc:
            kind = _kind(exc)
            if kind in ("not_found", "denied"):
                raise self.fail(exc, f"reading {obj.rel!r}") from None
            raise
        yield from result.stream(min_chunk_size=_CHUNK)  # buffers, not copied


def _without_markers(
    objects: list[tuple[str, int, str | None]], folder: str
) -> list[tuple[str, int, str | None]]:
    """Drop folder markers: empty objects named like a folder (``team/m/``), which obstore
    lists without their trailing slash."""
    folders = {folder.rstrip("/")} | {k.rsplit("/", 1)[0] for k, _, _ in objects if "/" in k}
    return [o for o in objects if not (o[1] == 0 and (o[0].endswith("/") or o[0] in folders))]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    # Never echo a query string (SAS tokens) or a signature.
    from modelsec.sources.uri import redact_uri

    return " ".join(redact_uri(w) if "://" in w else w for w in line.split())[:300]


def _kind(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    if (
        isinstance(exc, FileNotFoundError)
        or name == "NotFoundError"
        or "NoSuchBucket" in text
        or "ContainerNotFound" in text
    ):
        return "not_found"
    if (
        isinstance(exc, PermissionError)
        or name in ("PermissionDeniedError", "UnauthenticatedError")
        or any(
            s in text
            for s in (
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "AuthenticationFailed",
                "AuthorizationFailure",
                "403 Forbidden",
                "401 Unauthorized",
            )
        )
    ):
        return "denied"
    return "other"


def _describe(exc: BaseException) -> str:
    kind = _kind(exc)
    if kind == "denied":
        return "access denied (check the credentials)"
    if kind == "not_found":
        return "not found"
    return _first_line(exc)
