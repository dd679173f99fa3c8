"""The source layer without servers: URIs, selection, the streaming reader, retries, extras."""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsec.errors import PayloadError
from modelsec.scanner import TooManyFilesError, scan_path
from modelsec.scanner.streams import NamedStream, scan_streams
from modelsec.sources import (
    RemoteFile,
    Source,
    SourceError,
    StorageObject,
    StorageProgress,
    parse_location,
    redact_uri,
    select,
)
from modelsec.sources import base as base_mod
from modelsec.sources.objstore import parse_connection_string
from modelsec.workflows import source_type_of
from tests.integration.models import benign_model, malicious_model, malicious_pickle_bytes


class MemorySource(Source):
    """Objects in memory; counts the bytes it serves and can fail mid-stream."""

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        ranged: bool = True,
        fail_at: int | None = None,
        failures: int = 0,
    ) -> None:
        self.files = files
        self.ranged = ranged
        self.display = "mem://bucket/model"
        self.served = 0
        self.opens = 0
        self.fail_at = fail_at
        self.failures = failures

    def objects(self) -> list[StorageObject]:
        return [StorageObject(k, k, len(v)) for k, v in self.files.items()]

    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        self.opens += 1
        if (offset or end is not None) and not self.ranged:
            raise AssertionError("ranged read on a forward-only source")
        data = self.files[obj.key][:end]
        pos = offset
        while pos < len(data):
            if self.fail_at is not None and self.failures and pos >= self.fail_at:
                self.failures -= 1
                raise ConnectionResetError("peer reset")
            chunk = data[pos : pos + 65536]
            self.served += len(chunk)
            pos += len(chunk)
            yield chunk


def streamed(source: MemorySource) -> list[NamedStream]:
    return [
        NamedStream(o.rel, o.size, (lambda o=o: RemoteFile(source, o, backoff=0.0)))  # type: ignore[misc]
        for o in sorted(source.objects(), key=lambda o: o.rel)  # as select() orders them
    ]


def safetensors_bytes(n_floats: int) -> bytes:
    import json

    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\0" * (4 * n_floats)


def zip_with_pickle() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", malicious_pickle_bytes())
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/data/0", b"\0" * 300_000)
    return buf.getvalue()


def local_twin(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def comparable(details: object) -> list[tuple[object, ...]]:
    return [
        (
            f.file_path,
            f.modelscan_status,
            f.sha256,
            f.size_bytes,
            f.formats,
            [(i.threat, i.description) for i in f.issues_detected],
        )
        for f in details.files  # type: ignore[attr-defined]
    ]


# ------------------------------------------------------------------------------------ URIs


@pytest.mark.parametrize(
    ("uri", "kind", "container", "prefix"),
    [
        ("s3://bucket/team/bert", "s3", "bucket", "team/bert"),
        ("s3://bucket", "s3", "bucket", ""),
        ("gs://b/m/", "gcs", "b", "m/"),
        ("az://container/m", "azure", "container", "m"),
        ("https://acct.blob.core.windows.net/c/team/m?sv=1&sig=SECRET", "azure", "c", "team/m"),
        ("https://acme.jfrog.io/artifactory/ml-local/team/m", "artifactory", "ml-local", "team/m"),
        ("https://acme.jfrog.io/ml-local/team/m", "artifactory", "ml-local", "team/m"),
        ("https://repo.example.com/artifactory/ml/m.bin", "artifactory", "ml", "m.bin"),
        ("https://gitlab.example.com/g/sub/p/-/ml/models/3/versions/9", "gitlab", "g/sub/p", ""),
    ],
)
def test_parse_location(uri: str, kind: str, container: str, prefix: str) -> None:
    loc = parse_location(uri)
    assert loc is not None
    assert (loc.kind, loc.container, loc.prefix) == (kind, container, prefix)
    assert source_type_of(uri).value == loc.source_type
    assert "SECRET" not in loc.display and "SECRET" not in repr(loc)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3://b/../etc",
        "gs://b/a/./b",
        "https://h/g/p/-/ml/models/x",
        "https://acct.blob.core.windows.net/",
    ],
)
def test_malformed_storage_uris_fail_before_any_request(uri: str) -> None:
    with pytest.raises(PayloadError):
        parse_location(uri)


def test_not_storage() -> None:
    assert parse_location("hf://org/m") is None
    assert parse_location("https://huggingface.co/org/m") is None
    assert parse_location("./models/m") is None


def test_gitlab_ids() -> None:
    loc = parse_location("https://gl.example/g/p/-/ml/models/3")
    assert loc is not None and (loc.model_id, loc.version_id) == ("3", None)


def test_redact_uri() -> None:
    assert redact_uri("https://u:p@h/x?sig=abc") == "https://***@h/x?***"


def test_connection_string() -> None:
    f = parse_connection_string("UseDevelopmentStorage=true")
    assert f["AccountName"] == "devstoreaccount1" and f["BlobEndpoint"].startswith(
        "http://127.0.0.1"
    )
    with pytest.raises(SourceError):
        parse_connection_string("garbage")


# ------------------------------------------------------------------------------------ selection


def test_patterns_and_limit_apply_before_reading() -> None:
    src = MemorySource({f"f{i}.bin": b"x" for i in range(5)} | {"README.md": b"hi"})
    objs = select(src.objects(), allow_patterns=None, ignore_patterns=["*.md"], display=src.display)
    assert [o.rel for o in objs] == [f"f{i}.bin" for i in range(5)]
    with pytest.raises(TooManyFilesError):
        select(src.objects(), allow_patterns=["*.bin"], ignore_patterns=None, max_files=4)
    with pytest.raises(SourceError, match="match the allow/ignore patterns"):
        select(src.objects(), allow_patterns=["*.gguf"], ignore_patterns=None, display=src.display)
    with pytest.raises(SourceError, match="no objects under this prefix"):
        select([], allow_patterns=None, ignore_patterns=None, display=src.display)
    assert src.opens == 0


# ------------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("ranged", [True, False])
def test_streamed_scan_equals_local_scan(tmp_path: Path, ranged: bool) -> None:
    files: dict[str, bytes] = {}
    for make in (benign_model, malicious_model):
        d = make(tmp_path / make.__name__)
        files |= {f"{make.__name__}_{p.name}": p.read_bytes() for p in d.iterdir()}
    files["torch.pt"] = zip_with_pickle()  # needs random access (zip central directory)
    files["weights.safetensors"] = safetensors_bytes(500_000)
    src = MemorySource(files, ranged=ranged)
    remote = scan_streams(streamed(src))
    (tmp_path / "twin").mkdir()
    local = scan_path(local_twin(tmp_path / "twin", files))
    assert comparable(remote) == comparable(local)
    assert any(
        i.threat == "PAIT-PYTCH-100"
        for f in remote.files
        if f.file_path == "torch.pt"
        for i in f.issues_detected
    )


def test_every_byte_is_fetched_about_once() -> None:
    data = safetensors_bytes(2_000_000)  # 8 MB of tensor data the parser skips
    pkl = malicious_pickle_bytes() + b"\0" * 3_000_000
    src = MemorySource({"a.safetensors": data, "b.pkl": pkl})
    details = scan_streams(streamed(src))
    assert [f.sha256 for f in details.files] == [
        hashlib.sha256(data).hexdigest(),
        hashlib.sha256(pkl).hexdigest(),
    ]
    total = len(data) + len(pkl)
    assert total <= src.served <= total + (1 << 20)


def test_a_broken_stream_resumes_where_it_broke() -> None:
    data = safetensors_bytes(1_000_000)
    src = MemorySource({"m.safetensors": data}, fail_at=2_000_000, failures=2)
    details = scan_streams(streamed(src))
    assert details.files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert src.served <= len(data) + (1 << 20)


def test_a_stream_that_keeps_failing_is_one_line_error() -> None:
    src = MemorySource({"m.pkl": b"\x80\x04N." * 100_000}, fail_at=10, failures=100)
    with pytest.raises(SourceError) as info:
        scan_streams(streamed(src))
    assert "\n" not in str(info.value) and "m.pkl" in str(info.value)


def test_object_changed_while_read_is_an_error() -> None:
    src = MemorySource({"m.pkl": b"\x80\x04N."})
    obj = StorageObject("m.pkl", "m.pkl", 10)  # the listing said 10 bytes
    with pytest.raises(PayloadError, match="changed"):
        scan_streams([NamedStream("m.pkl", 10, lambda: RemoteFile(src, obj))])  # type: ignore[arg-type,return-value]


def test_progress_line(caplog: pytest.LogCaptureFixture) -> None:
    p = StorageProgress("s3://b/m", files=2, total_bytes=3 << 20, every=0.0)
    with caplog.at_level(logging.INFO, logger="modelsec.sources"):
        p.add(1 << 20)
        p.file_done()
    assert "s3://b/m: 0/2 files, 1.0/3.0 MiB" in caplog.text
    assert p.line() == "s3://b/m: 1/2 files, 1.0/3.0 MiB"


# ------------------------------------------------------------------------------------ extras, auth


def test_missing_storage_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelsec.sources import scan_uri

    monkeypatch.setitem(sys.modules, "obstore", None)
    with pytest.raises(SourceError) as info:
        scan_uri("s3://bucket/model")
    assert "pip install 'modelsec[storage]'" in str(info.value)
    assert "\n" not in str(info.value)


def test_artifactory_and_gitlab_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelsec.sources.artifactory import artifactory_headers
    from modelsec.sources.gitlab import gitlab_headers

    for k in ("ARTIFACTORY_USERNAME", "ARTIFACTORY_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ARTIFACTORY_TOKEN", "tok")
    assert artifactory_headers() == {"Authorization": "Bearer tok"}
    monkeypatch.setenv("ARTIFACTORY_USERNAME", "me")
    assert artifactory_headers() == {"Authorization": "Basic bWU6dG9r"}
    monkeypatch.delenv("ARTIFACTORY_TOKEN")
    with pytest.raises(SourceError):
        artifactory_headers()
    monkeypatch.setenv("CI_JOB_TOKEN", "job")
    assert gitlab_headers() == {"JOB-TOKEN": "job"}
    monkeypatch.setenv("GITLAB_TOKEN", "pat")
    assert gitlab_headers() == {"PRIVATE-TOKEN": "pat"}


def test_no_credentials_over_plain_http_to_a_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelsec.sources import open_source

    monkeypatch.setenv("GITLAB_TOKEN", "pat-secret")
    loc = parse_location("http://gitlab.example.com/g/p/-/ml/models/1")
    assert loc is not None
    with pytest.raises(SourceError) as info:
        open_source(loc)
    assert "plain http" in str(info.value) and "pat-secret" not in str(info.value)


def test_scan_local_resolves_storage_uris_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    from modelsec import workflows

    seen: list[tuple[object, ...]] = []

    def fake_scan_uri(uri: str, **kw: object) -> str:
        seen.append((uri, kw["allow_patterns"], kw["ignore_patterns"], kw["download_dir"]))
        return "details"

    monkeypatch.setattr("modelsec.sources.scan_uri", fake_scan_uri)
    args = ("s3://b/m", ["*.bin"], None, "/tmp/keep")
    pickle.dumps((workflows._scan_local, args))  # plain picklable arguments for any executor
    assert workflows._scan_local(*args) == ("s3://b/m", "details")
    assert seen == [("s3://b/m", ["*.bin"], None, "/tmp/keep")]


def test_remote_file_seek_semantics() -> None:
    src = MemorySource({"m": bytes(range(256)) * 40_000})
    f = RemoteFile(src, src.objects()[0])
    assert f.read(4) == b"\0\1\2\3"
    f.seek(-2, io.SEEK_END)
    assert f.read() == bytes([254, 255])
    f.seek(5_000_000)
    assert f.read(2) == bytes([5_000_000 % 256, (5_000_000 + 1) % 256])
    f.seek(3)
    assert f.read(1) == b"\3"  # served from the cached head, no new request
    forward = RemoteFile(MemorySource({"m": b"abc"}, ranged=False), StorageObject("m", "m", 3))
    assert not forward.seekable()
    with pytest.raises(io.UnsupportedOperation):
        forward.seek(2)
    assert base_mod.MAX_FILES == 1000


def spooled(source: MemorySource) -> list[NamedStream]:
    from modelsec.sources.spool import SpoolFile

    return [
        NamedStream(o.rel, o.size, (lambda o=o: SpoolFile(source, o)))  # type: ignore[misc]
        for o in sorted(source.objects(), key=lambda o: o.rel)
    ]


def test_spooled_objects_are_fetched_once_and_scan_as_local(tmp_path: Path) -> None:
    files = {
        "torch.pt": zip_with_pickle(),
        "weights.safetensors": safetensors_bytes(1_000_000),
        "model.pkl": malicious_pickle_bytes() + b"\0" * 2_000_000,
        "empty.bin": b"",
    }
    src = MemorySource(files)
    remote = scan_streams(spooled(src))
    local = scan_path(local_twin(tmp_path, files))
    assert comparable(remote) == comparable(local)
    assert src.opens == len(files) - 1  # one request per object (none for the empty one)
    assert src.served == sum(len(v) for v in files.values())


def test_spool_failure_surfaces_in_the_scan() -> None:
    src = MemorySource({"m.pkl": b"\x80\x04N." * 300_000}, fail_at=100_000, failures=100)
    base_mod_backoff = RemoteFile.__init__.__kwdefaults__
    assert base_mod_backoff is not None
    old = base_mod_backoff["backoff"]
    base_mod_backoff["backoff"] = 0.0
    try:
        with pytest.raises(SourceError) as info:
            scan_streams(spooled(src))
    finally:
        base_mod_backoff["backoff"] = old
    assert "m.pkl" in str(info.value) and "\n" not in str(info.value)


def test_repository_pass_sees_streamed_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsec.sources import scan as scan_mod

    files = {
        "config.json": b'{"auto_map": {"AutoModel": "modeling_x.M"}}',
        "modeling_x.py": b"import os\n\nclass M:\n    def forward(self):\n        os.system('id')\n",
        "model.safetensors": safetensors_bytes(4),
        "../escape.json": b'{"auto_map": {"AutoModel": "other.M"}}',
    }
    monkeypatch.setattr(scan_mod, "open_source", lambda loc: MemorySource(files))
    remote = scan_mod.scan_uri("s3://bucket/model")
    local_files = {k: v for k, v in files.items() if not k.startswith("..")}
    local = scan_path(local_twin(tmp_path, local_files))
    by_name = {f[0]: f for f in comparable(remote)}
    assert [by_name[f[0]] for f in comparable(local)] == comparable(local)
    runtime = [i for f in remote.files if f.file_path == "modeling_x.py" for i in f.issues_detected]
    assert runtime, "code a loader installs must be judged for streamed models too"


def test_scan_without_a_group_uses_the_default_group_of_the_source(tmp_path: Path) -> None:
    from modelsec import ModelSecurityClient
    from modelsec.emulator import EmulatorThread

    model = malicious_model(tmp_path / "m")
    with (
        EmulatorThread(port=0, settle_delay=0.01, activation_delay=0.0) as emu,
        ModelSecurityClient(**emu.client_kwargs()) as client,
    ):
        result = client.scan(str(model), poll_interval=0.02)
        (many,) = list(client.scan_many([str(model)], poll_interval=0.02))
    assert result.is_blocked and many.is_blocked
    assert result.scan is not None and result.scan.security_group_name == "Default LOCAL"


def test_progress_counts_files_and_bytes_of_a_streamed_scan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from modelsec.sources import scan as scan_mod

    files = {"a.pkl": b"\x80\x04N." * 50_000, "config.json": b"{}", "b.bin": b"\0" * 100_000}
    monkeypatch.setattr(scan_mod, "open_source", lambda loc: MemorySource(files))
    monkeypatch.setattr(
        scan_mod, "StorageProgress", lambda *a, **kw: StorageProgress(*a, **{**kw, "every": 0.0})
    )
    with caplog.at_level(logging.INFO, logger="modelsec.sources"):
        scan_mod.scan_uri("s3://bucket/model")
    lines = [r.getMessage() for r in caplog.records if r.name == "modelsec.sources"]
    total = sum(len(v) for v in files.values()) / (1 << 20)
    assert lines and all(ln.startswith("s3://bucket/model: ") for ln in lines)
    assert lines[-1].endswith(f"files, {total:.1f}/{total:.1f} MiB") or any(
        f"/3 files, {total:.1f}/{total:.1f} MiB" in ln for ln in lines
    )
