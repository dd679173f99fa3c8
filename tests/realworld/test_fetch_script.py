"""The corpus fetcher itself (runs in the default suite: no venv, no network, no corpus needed)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_fetcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fetch_realworld", ROOT / "scripts" / "fetch_realworld.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fetch_realworld"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def fetcher() -> ModuleType:
    return load_fetcher()


@pytest.mark.parametrize("req", ["requirements.txt", "requirements-tf.txt"])
def test_requirements_are_exact_pins(req: str) -> None:
    lines = [
        line.strip()
        for line in (ROOT / "scripts" / "realworld" / req).read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) > 10
    loose = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line)]
    assert loose == []
    names = [re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in lines]
    assert len(names) == len(set(names)), "a package pinned twice"


def test_every_group_has_its_generator_and_requirements(fetcher: ModuleType) -> None:
    for script, req in fetcher.GROUPS.values():
        assert (fetcher.GEN_DIR / script).is_file(), script
        assert req in fetcher.VENVS
    assert set(fetcher.GROUPS) == {"pickle", "structured", "repos", "testdata", "tf"}


def test_unknown_group_is_refused(fetcher: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        fetcher.main(["--groups", "pickle,nope"])
    assert exc.value.code == 2
    assert "unknown groups ['nope']" in capsys.readouterr().err


def _fake_group(fetcher: ModuleType, cache: Path, group: str, n: int) -> None:
    script, req = fetcher.GROUPS[group]
    out = cache / group
    out.mkdir(parents=True)
    entries = [
        {"path": f"{group}/f{i}", "kind": "file", "format": "x", "producer": ["p"]}
        for i in range(n)
    ]
    (out / "manifest.json").write_text(json.dumps({"entries": entries, "failures": []}))
    key = fetcher.sha256_files(
        fetcher.GEN_DIR / req, fetcher.GEN_DIR / "_common.py", fetcher.GEN_DIR / script
    )
    (out / ".stamp").write_text(key)


def test_up_to_date_groups_are_not_regenerated_and_are_merged(
    fetcher: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSEC_REALWORLD_CACHE", str(tmp_path))
    for group in fetcher.GROUPS:
        _fake_group(fetcher, tmp_path, group, 2)

    def no_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"nothing may run when the cache is up to date: {args}")

    monkeypatch.setattr(fetcher.subprocess, "run", no_run)
    monkeypatch.setattr(fetcher, "ensure_venv", no_run)
    assert fetcher.main([]) == 0
    merged = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert len(merged["entries"]) == 2 * len(fetcher.GROUPS)
    assert merged["groups"]["pickle"] == {"entries": 2, "failures": []}


def test_changed_generator_key_reruns_the_group(
    fetcher: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSEC_REALWORLD_CACHE", str(tmp_path))
    _fake_group(fetcher, tmp_path, "pickle", 1)
    (tmp_path / "pickle" / ".stamp").write_text("stale")
    ran: list[list[str]] = []

    class Done:
        returncode = 0

    def fake_run(cmd: list[str], **kwargs: Any) -> Done:
        ran.append(cmd)
        out = Path(cmd[-1])
        (out / "manifest.json").write_text(json.dumps({"entries": [], "failures": ["step"]}))
        return Done()

    monkeypatch.setattr(fetcher, "ensure_venv", lambda cache, req: Path("/venv/bin/python"))
    monkeypatch.setattr(fetcher.subprocess, "run", fake_run)
    # a generator step failed: the fetch fails and no stamp is written, so the next run retries
    assert fetcher.main(["--groups", "pickle"]) == 1
    assert [Path(c[1]).name for c in ran] == ["gen_pickle_family.py"]
    assert not (tmp_path / "pickle" / ".stamp").exists()
