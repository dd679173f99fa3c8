"""The emulator never reads through a link out of its hub, and reads hub files off the loop."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from modelsec.emulator import Emulator, hub, settle
from tests.emulator.conftest import Api

SECRET = "AKIAEXAMPLESECRETVALUE0123"
# Shaped to be read as a model card's licence and as a revision, so any read shows.
CREDENTIALS = f"---\nlicense: {SECRET}\n---\naws_secret_access_key = {SECRET}\n"


def _outside(tmp_path: Path) -> Path:
    creds = tmp_path / "home" / ".aws" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text(CREDENTIALS)
    return creds


def _model(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"a": 1}')
    (root / "pytorch_model.bin").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    return root


async def _everything_about(api: Api, scan_uuid: str) -> str:
    """Every response that could carry hub content, concatenated."""
    scan = await api.wait_scan(scan_uuid)
    texts = [json.dumps(scan)]
    for sub in ("evaluations", "rule-violations", "files"):
        r = await api.get(f"/data/v1/scans/{scan_uuid}/{sub}", params={"limit": 100})
        texts.append(json.dumps(r.body))
    models = (await api.get("/data/v1/models", params={"limit": 100})).body
    texts.append(json.dumps(models))
    for m in models["models"]:
        r = await api.get(f"/data/v1/models/{m['uuid']}/model-versions", params={"limit": 100})
        texts.append(json.dumps(r.body))
        for v in r.body["model_versions"]:
            texts.append(json.dumps((await api.get(f"/data/v1/model-versions/{v['uuid']}")).body))
            r2 = await api.get(f"/data/v1/model-versions/{v['uuid']}/files")
            texts.append(json.dumps(r2.body))
    return "\n".join(texts)


async def _scan(api: Api, uri: str) -> str:
    hf = await api.default_group("HUGGING_FACE")
    r = await api.post("/data/v1/scans", {"model_uri": uri, "security_group_uuid": hf})
    assert r.status == 201, r.body
    return str(r.body["uuid"])


async def test_links_out_of_the_hub_are_never_read(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    creds = _outside(tmp_path)
    root = tmp_path / "hub"
    model = _model(root / "huggingface" / "org" / "model")
    (model / "README.md").symlink_to(creds)
    (model / ".revision").symlink_to(creds)
    (model / "weights.bin").symlink_to(creds)
    # a relative link that climbs out, and a link to a directory outside
    (model / "notes.txt").symlink_to("../../../../home/.aws/credentials")
    (model / "sub").symlink_to(creds.parent)
    (root / "huggingface" / "org" / ".verified").symlink_to(creds)
    # a whole model directory that is a link out of the hub
    (root / "huggingface" / "elsewhere").mkdir()
    outside_model = _model(tmp_path / "outside-model")
    (outside_model / "README.md").write_text(CREDENTIALS)
    (outside_model / ".revision").write_text(SECRET)
    (root / "huggingface" / "elsewhere" / "model").symlink_to(outside_model)
    async with Emulator(port=0, settle_delay=0.01, hub=root) as emu:
        api = Api(emu, http)
        uuid1 = await _scan(api, "hf://org/model")
        text = await _everything_about(api, uuid1)
        assert SECRET not in text
        scan = await api.wait_scan(uuid1)
        assert scan["eval_outcome"] != "ERROR", scan  # the model itself was scanned
        mv = (await api.get(f"/data/v1/model-versions/{scan['model_version_uuid']}")).body
        assert mv["license"] is None
        assert mv["hf_commit_sha"] is None
        uuid2 = await _scan(api, "hf://elsewhere/model")
        scan2 = await api.wait_scan(uuid2)
        assert scan2["eval_outcome"] == "ERROR"
        assert scan2["error_code"] == "MISSING_ARTIFACTS"
        assert SECRET not in await _everything_about(api, uuid2)


async def test_links_inside_the_hub_are_followed(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # Hugging Face's cache layout links snapshot files to blobs: inside the hub that is fine.
    root = tmp_path / "hub"
    model = _model(root / "huggingface" / "org" / "model")
    blobs = root / "blobs"
    blobs.mkdir()
    (blobs / "card").write_text("---\nlicense: mit\n---\n")
    (blobs / "rev").write_text("0123abcd\n")
    (model / "README.md").symlink_to(blobs / "card")
    (model / ".revision").symlink_to("../../../blobs/rev")
    async with Emulator(port=0, settle_delay=0.01, hub=root) as emu:
        api = Api(emu, http)
        scan = await api.wait_scan(await _scan(api, "hf://org/model"))
        mv = (await api.get(f"/data/v1/model-versions/{scan['model_version_uuid']}")).body
        assert mv["license"] == "mit"
        assert mv["hf_commit_sha"] == "0123abcd"


async def test_hub_files_are_read_off_the_event_loop(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "hub"
    model = _model(root / "huggingface" / "org" / "model")
    (model / "README.md").write_text("---\nlicense: mit\n---\n")
    (model / ".revision").write_text("feedface\n")
    (root / "huggingface" / "org" / ".verified").write_text("")
    threads: list[int] = []
    real = hub.read_in_hub

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(settle, "read_in_hub", spy)
    loop_thread = threading.get_ident()
    async with Emulator(port=0, settle_delay=0.01, hub=root) as emu:
        api = Api(emu, http)
        scan = await api.wait_scan(await _scan(api, "hf://org/model"))
        mv = (await api.get(f"/data/v1/model-versions/{scan['model_version_uuid']}")).body
        assert (mv["license"], mv["hf_commit_sha"]) == ("mit", "feedface")
    assert len(threads) >= 3  # README.md, .revision, .verified
    assert loop_thread not in threads


def test_read_in_hub(tmp_path: Path) -> None:
    creds = _outside(tmp_path)
    root = tmp_path / "hub"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("inside")
    (root / "d" / "out").symlink_to(creds)
    (root / "d" / "in").symlink_to(root / "d" / "f")
    (root / "linkdir").symlink_to(creds.parent)
    assert hub.read_in_hub(root, root / "d" / "f") == b"inside"
    assert hub.read_in_hub(root, root / "d" / "in") == b"inside"
    assert hub.read_in_hub(root, root / "d" / "f", limit=3) == b"ins"
    assert hub.read_in_hub(root, root / "d" / "out") is None
    assert hub.read_in_hub(root, root / "linkdir" / "credentials") is None
    assert hub.read_in_hub(root, root / "d" / ".." / ".." / "home" / ".aws" / "credentials") is None
    assert hub.read_in_hub(root, root / "d") is None  # not a regular file
    assert hub.read_in_hub(root, root / "missing") is None
    assert hub.read_in_hub(root, creds) is None
