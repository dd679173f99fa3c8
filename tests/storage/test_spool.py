"""The spool's pipeline: the download and the hash overlap, in bounded memory, and stop together."""

from __future__ import annotations

import hashlib
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelsec.sources import Source, StorageObject
from modelsec.sources import spool as spool_mod
from modelsec.sources.spool import SpoolFile

CHUNK = 64 << 10


class ChunkSource(Source):
    """One object served as the given chunks; counts them, and can pause after some."""

    display = "mem://chunks"

    def __init__(self, chunks: list[bytes], pause_after: int | None = None) -> None:
        self.chunks = chunks
        self.yielded = 0
        self.pause_after = pause_after
        self.resume = threading.Event()

    def obj(self) -> StorageObject:
        return StorageObject("m", "m", sum(len(c) for c in self.chunks))

    def objects(self) -> list[StorageObject]:
        return [self.obj()]

    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        assert offset == 0 and end is None, "the spool reads each object once, front to back"
        for i, chunk in enumerate(self.chunks):
            if self.pause_after is not None and i == self.pause_after:
                assert self.resume.wait(10), "the test never resumed the download"
            self.yielded += 1
            yield chunk


def chunks(n: int) -> list[bytes]:
    return [bytes([i % 251]) * CHUNK for i in range(n)]


def held_hash(
    monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None
) -> tuple[threading.Event, list[str]]:
    """Make the spool's sha256 wait for a gate (and optionally fail at one chunk)."""
    gate = threading.Event()
    threads: list[str] = []

    class Held:
        def __init__(self) -> None:
            self._h = hashlib.sha256()
            self._n = 0

        def update(self, data: Any) -> None:
            threads.append(threading.current_thread().name)
            if not gate.wait(10):
                raise AssertionError("the download waited for the hash")
            self._n += 1
            if fail_at is not None and self._n == fail_at:
                raise ValueError("hash failed")
            self._h.update(data)

        def hexdigest(self) -> str:
            return self._h.hexdigest()

    monkeypatch.setattr(spool_mod, "hashlib", types.SimpleNamespace(sha256=Held))
    return gate, threads


def until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10  # an upper bound only: the condition comes in ms
    while not cond():
        assert time.monotonic() < deadline, "condition never came"
        time.sleep(0.001)


def stopped(f: SpoolFile) -> bool:
    return not f._thread.is_alive() and not f._hasher.is_alive()


def test_reads_go_on_while_the_hash_is_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    gate, threads = held_hash(monkeypatch)
    data = chunks(4)
    src = ChunkSource(data)
    f = SpoolFile(src, src.obj())
    # The hash is held up: the whole object still arrives and is served.
    assert f.read() == b"".join(data)
    gate.set()
    assert f.sha256_hexdigest() == hashlib.sha256(b"".join(data)).hexdigest()
    f.close()
    assert stopped(f)
    assert set(threads) == {"modelsec-spool-hash"}  # not the downloading thread


def test_a_slow_hash_holds_the_download_back(monkeypatch: pytest.MonkeyPatch) -> None:
    gate, _ = held_hash(monkeypatch)
    src = ChunkSource(chunks(100))
    f = SpoolFile(src, src.obj())
    until(f._chunks.full)
    # Queued chunks, the one being hashed, the one waiting to be queued: no more in memory.
    assert src.yielded <= spool_mod._QUEUED_CHUNKS + 2
    gate.set()
    assert f.sha256_hexdigest() == hashlib.sha256(b"".join(src.chunks)).hexdigest()
    f.close()
    assert stopped(f)


def test_every_byte_is_hashed_once_in_order() -> None:
    # Chunks of odd sizes, each different: any reordering, loss or repeat changes the digest.
    data = [bytes([i]) * (1 + 37 * i) for i in range(200)]
    src = ChunkSource(data)
    with SpoolFile(src, src.obj()) as f:
        assert f.read() == b"".join(data)
        assert f.sha256_hexdigest() == hashlib.sha256(b"".join(data)).hexdigest()
    assert stopped(f)


def test_a_hash_failure_reaches_the_reader_and_stops_the_download(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, _ = held_hash(monkeypatch, fail_at=2)
    gate.set()
    src = ChunkSource(chunks(100))
    f = SpoolFile(src, src.obj())
    with pytest.raises(ValueError, match="hash failed"):
        f.sha256_hexdigest()
    until(lambda: stopped(f))
    assert src.yielded < 100
    f.close()


def test_closing_mid_download_stops_both_threads() -> None:
    src = ChunkSource(chunks(100), pause_after=3)
    f = SpoolFile(src, src.obj())
    assert f.read(10) == bytes(10)
    closer = threading.Thread(target=f.close)
    closer.start()
    until(lambda: f._stop)
    src.resume.set()
    closer.join(10)
    assert not closer.is_alive()
    assert stopped(f) and f.closed
    assert src.yielded <= 4  # the chunk in hand when the scan stopped, no more
