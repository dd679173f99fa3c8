"""Executors by name, for the CLI and scripts: processes here, a Dask or a Ray cluster."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from modelsec.fleet._dispatch import ExecutorLike
from modelsec.fleet._extras import import_extra
from modelsec.fleet._ray import RayExecutor

__all__ = ["dask_client", "open_executor", "process_pool"]


def process_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes (default: one per core) for local scans.

    Workers start from a fork server where the platform has one (else by spawning): never by
    forking a driver whose event loop and connection pool threads are running.

    Example:
        >>> pool = process_pool(2)
        >>> pool.submit(pow, 2, 10).result()
        1024
        >>> pool.shutdown()
    """
    if workers is not None and workers < 1:
        raise ValueError("workers must be >= 1")
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=ctx)


def dask_client(address: str | None = None, **kwargs: Any) -> Any:
    """A ``distributed.Client`` connected to ``address`` (extra ``modelsec[dask]``).

    ``"auto"``, ``"local"`` or None start a ``LocalCluster`` on this machine (closed with the
    client); anything else is a scheduler address such as ``tcp://scheduler:8786``.

    Example:
        >>> client = dask_client("tcp://scheduler:8786")  # doctest: +SKIP
    """
    distributed = import_extra("distributed", "dask")
    if address in (None, "auto", "local"):
        return distributed.Client(**kwargs)
    return distributed.Client(address, **kwargs)


@contextlib.contextmanager
def open_executor(
    *, workers: int | None = None, dask: str | None = None, ray: str | None = None
) -> Iterator[ExecutorLike | None]:
    """The executor the options name (at most one), shut down on exit; None for none.

    Example:
        >>> with open_executor() as executor:
        ...     print(executor)
        None
        >>> with open_executor(workers=2) as executor:
        ...     type(executor).__name__
        'ProcessPoolExecutor'
    """
    chosen = [name for name, v in (("workers", workers), ("dask", dask), ("ray", ray)) if v]
    if len(chosen) > 1:
        raise ValueError(f"choose one executor, not {' and '.join(chosen)}")
    if workers:
        pool = process_pool(workers)
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    elif dask:
        client = dask_client(dask)
        try:
            yield client
        finally:
            client.close()
    elif ray:
        # Ray's INFO lines would mix with the command's own output.
        executor = RayExecutor(ray, logging_level=logging.WARNING)
        try:
            yield executor
        finally:
            executor.shutdown()
    else:
        yield None
