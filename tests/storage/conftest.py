"""Real storage servers on loopback for the ``storage`` suite (``pytest -m storage``).

S3: moto's server mode (IAM authentication switched on once the fixtures are uploaded, so wrong
keys are refused). GCS: gcp-storage-emulator (JSON API, ``STORAGE_EMULATOR_HOST``; it does not
authenticate). Azure Blob: Azurite (npm), from ``$MODELSEC_AZURITE`` or
``$HOME/.cache/modelsec/azurite-<version>`` where ``.ci/run`` installs it. Artifactory and GitLab:
the fakes of :mod:`tests.storage.fakes`. A missing server makes the tests fail, never skip.
"""

from __future__ import annotations

import base64
import datetime as _dt
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from modelsec.cli.demo import write_benign_model, write_malicious_model
from modelsec.emulator import EmulatorThread
from tests.storage.fakes import FakeArtifactory, FakeGitLab

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# Every variable a source reads: cleared so that the developer's own never leak into a test.
SOURCE_VARS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "ARTIFACTORY_USERNAME",
    "ARTIFACTORY_TOKEN",
    "GITLAB_TOKEN",
    "CI_JOB_TOKEN",
)


def model_files() -> dict[str, dict[str, bytes]]:
    """``benign`` (safetensors + config.json) and ``malicious`` (os.system pickle + config)."""
    import tempfile

    out: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in (("benign", write_benign_model), ("malicious", write_malicious_model)):
            d = write(Path(tmp) / name)
            out[name] = {p.name: p.read_bytes() for p in sorted(d.iterdir())}
    out["malicious"]["config.json"] = b'{"model_type": "toy"}'
    return out


@dataclass
class Backend:
    """One platform with a benign and a malicious model, and URIs that must fail."""

    name: str
    source_type: str
    env: dict[str, str]
    benign: str
    malicious: str
    missing_bucket: str
    missing_prefix: str
    empty: str
    bad_env: dict[str, str] | None = None  # None: the emulator does not authenticate
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ S3


@pytest.fixture(scope="session")
def s3_backend() -> Iterator[Backend]:
    try:
        import boto3
        import moto.settings
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # fail, never skip: the suite was asked for
        pytest.fail(f"the storage suite needs moto[server] and boto3: {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    iam = boto3.client("iam", aws_access_key_id="x", aws_secret_access_key="x", **kw)
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    s3 = boto3.client(
        "s3",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        **kw,
    )
    s3.create_bucket(Bucket="models")
    for model, files in model_files().items():
        for name, data in files.items():
            s3.put_object(Bucket="models", Key=f"team/{model}/{name}", Body=data)
    s3.put_object(Bucket="models", Key="team/empty/", Body=b"")  # a folder marker only
    saved = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on keys are checked
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_REGION": "us-east-1",
    }
    try:
        yield Backend(
            name="s3",
            source_type="S3",
            env=env,
            benign="s3://models/team/benign",
            malicious="s3://models/team/malicious/",
            missing_bucket="s3://no-such-bucket/team/benign",
            missing_prefix="s3://models/team/nothing-here",
            empty="s3://models/team/empty/",
            bad_env={**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-key-of-reader"},
            extra={"client": s3, "endpoint": endpoint},
        )
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
        server.stop()


# ------------------------------------------------------------------------------------ GCS


def _http(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


@pytest.fixture(scope="session")
def gcs_backend() -> Iterator[Backend]:
    try:
        from gcp_storage_emulator.server import create_server
    except ImportError as exc:
        pytest.fail(f"the storage suite needs gcp-storage-emulator: {exc}")
    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    port = server._api._httpd.server_address[1]
    base = f"http://127.0.0.1:{port}"
    _http(
        "POST",
        f"{base}/storage/v1/b?project=test",
        json.dumps({"name": "models"}).encode(),
        {"Content-Type": "application/json"},
    )
    _http(
        "POST",
        f"{base}/storage/v1/b?project=test",
        json.dumps({"name": "other"}).encode(),
        {"Content-Type": "application/json"},
    )
    for model, files in model_files().items():
        for name, data in files.items():
            obj = quote(f"team/{model}/{name}", safe="")
            _http(
                "POST",
                f"{base}/upload/storage/v1/b/models/o?uploadType=media&name={obj}",
                data,
                {"Content-Type": "application/octet-stream"},
            )
    try:
        yield Backend(
            name="gcs",
            source_type="GCS",
            env={"STORAGE_EMULATOR_HOST": f"127.0.0.1:{port}"},
            benign="gs://models/team/benign",
            malicious="gs://models/team/malicious/",
            missing_bucket="gs://no-such-bucket/team/benign",
            missing_prefix="gs://models/team/nothing-here",
            empty="gs://other/",
        )
    finally:
        server.stop()


# ------------------------------------------------------------------------------------ Azure


def azurite_binary() -> str:
    """The azurite-blob launcher, or fail with how to install it."""
    candidates = [os.environ.get("MODELSEC_AZURITE", "")]
    candidates += sorted(
        glob.glob(os.path.expanduser("~/.cache/modelsec/azurite-*/node_modules/.bin/azurite-blob")),
        reverse=True,
    )
    candidates.append(shutil.which("azurite-blob") or "")
    for c in candidates:
        if c and os.path.exists(c):
            return c
    pytest.fail(
        "the storage suite needs Azurite: npm install --prefix ~/.cache/modelsec/azurite-<version> "
        "azurite (as .ci/run does), or set MODELSEC_AZURITE to azurite-blob"
    )


def _shared_key(method: str, url: str, headers: dict[str, str], length: int) -> str:
    """Azure Storage Shared Key authorisation (only used to create test containers)."""
    from urllib.parse import parse_qsl, urlsplit

    u = urlsplit(url)
    canon_headers = "".join(
        f"{k.lower()}:{v}\n" for k, v in sorted(headers.items()) if k.lower().startswith("x-ms-")
    )
    resource = f"/{AZURITE_ACCOUNT}{u.path}"
    for k, v in sorted(parse_qsl(u.query)):
        resource += f"\n{k.lower()}:{v}"
    to_sign = "\n".join(
        [
            method,
            "",
            "",
            str(length) if length else "",
            "",
            headers.get("Content-Type", ""),
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    to_sign += "\n" + canon_headers + resource
    sig = hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(sig).decode()}"


def _azure_put(url: str, body: bytes = b"", extra: dict[str, str] | None = None) -> None:
    headers = {
        "x-ms-date": _dt.datetime.now(_dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "x-ms-version": "2021-08-06",
        **(extra or {}),
    }
    if body:
        headers["Content-Type"] = "application/octet-stream"
    headers["Authorization"] = _shared_key("PUT", url, headers, len(body))
    _http("PUT", url, body, headers)


@pytest.fixture(scope="session")
def azure_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    binary = azurite_binary()
    location = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [
            binary,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = None
        assert proc.stdout is not None
        for _ in range(50):
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listens on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            pytest.fail("Azurite did not start")
        # Keep draining its output so that a full pipe never blocks it.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        _azure_put(f"{endpoint}/models?restype=container")
        _azure_put(f"{endpoint}/other?restype=container")
        for model, files in model_files().items():
            for name, data in files.items():
                _azure_put(
                    f"{endpoint}/models/team/{model}/{name}", data, {"x-ms-blob-type": "BlockBlob"}
                )
        conn = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
        )
        wrong = base64.b64encode(b"w" * 64).decode()
        yield Backend(
            name="azure",
            source_type="AZURE",
            env={"AZURE_STORAGE_CONNECTION_STRING": conn},
            benign="az://models/team/benign",
            # The account URL form, served by the connection string's BlobEndpoint.
            malicious=f"https://{AZURITE_ACCOUNT}.blob.core.windows.net/models/team/malicious/",
            missing_bucket="az://no-such-container/team/benign",
            missing_prefix="az://models/team/nothing-here",
            empty="az://other/",
            bad_env={"AZURE_STORAGE_CONNECTION_STRING": conn.replace(AZURITE_KEY, wrong)},
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------------------------ Artifactory


@pytest.fixture(scope="session")
def artifactory_backend() -> Iterator[Backend]:
    fake = FakeArtifactory(user="ci-reader", token="art-token-1234")
    for model, files in model_files().items():
        for name, data in files.items():
            fake.put("ml-local", f"team/{model}/{name}", data)
    fake.mkdir("ml-local", "team/empty")
    fake.server.start()
    base = f"{fake.server.url}/artifactory/ml-local"
    env = {"ARTIFACTORY_USERNAME": "ci-reader", "ARTIFACTORY_TOKEN": "art-token-1234"}
    try:
        yield Backend(
            name="artifactory",
            source_type="ARTIFACTORY",
            env=env,
            benign=f"{base}/team/benign",
            malicious=f"{base}/team/malicious/",
            missing_bucket=f"{fake.server.url}/artifactory/no-such-repo/team/benign",
            missing_prefix=f"{base}/team/nothing-here",
            empty=f"{base}/team/empty",
            bad_env={**env, "ARTIFACTORY_TOKEN": "wrong-token"},
            extra={"fake": fake},
        )
    finally:
        fake.server.stop()


# ------------------------------------------------------------------------------------ GitLab


@pytest.fixture(scope="session")
def gitlab_backend() -> Iterator[Backend]:
    fake = FakeGitLab(token="glpat-test-token")
    files = model_files()
    # Several packages, so that the listing takes more than one page.
    fake.add_version("ml/models", 1, 10, "other", {"a.bin": b"x"})
    fake.add_version("ml/models", 7, 41, "bert", files["benign"])
    fake.add_version("ml/models", 8, 42, "evil", {"old.json": b"{}"})
    fake.add_version("ml/models", 8, 43, "evil", files["malicious"])
    fake.add_version("ml/models", 9, 50, "empty", {})
    fake.server.start()
    base = f"{fake.server.url}/ml/models/-/ml/models"
    env = {"GITLAB_TOKEN": "glpat-test-token"}
    try:
        yield Backend(
            name="gitlab",
            source_type="GITLAB",
            env=env,
            benign=f"{base}/7/versions/41",
            malicious=f"{base}/8",  # the newest version (43)
            missing_bucket=f"{fake.server.url}/ml/no-such-project/-/ml/models/7/versions/41",
            missing_prefix=f"{base}/7/versions/99",
            empty=f"{base}/9/versions/50",
            bad_env={"GITLAB_TOKEN": "glpat-wrong"},
        )
    finally:
        fake.server.stop()


# ------------------------------------------------------------------------------------ shared


@pytest.fixture(params=["s3", "gcs", "azure", "artifactory", "gitlab"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """Each platform in turn, with its environment set in this process."""
    b: Backend = request.getfixturevalue(f"{request.param}_backend")
    for var in SOURCE_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in b.env.items():
        monkeypatch.setenv(k, v)
    return b


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(port=0, settle_delay=0.05, activation_delay=0.0) as emu:
        yield emu
