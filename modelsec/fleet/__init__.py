"""Scan local models on more than one core: a process pool, a Dask cluster or a Ray cluster.

``scan`` / ``scan_many`` take ``executor=``: the read + scan of each LOCAL target (the CPU and
I/O of :func:`modelsec.scanner.scan_path`) is submitted to it as one call with plain picklable
arguments (the path and the patterns); the worker reads the model itself (a path on a file
system it sees) and sends back only the compact ``ScanDetails`` (about 1 KB pickled for a small
model; one entry per file). API calls (create, wait, violations) stay on the driver's async
client: one token, one rate limit, exactly-once creates. Work lost with a worker (a killed
process, a dead Dask worker or Ray node, a task the cluster dropped) is submitted again and ends
as exactly one result either way; see :class:`Dispatcher`.

Accepted executors: any ``concurrent.futures.Executor`` (``ThreadPoolExecutor``,
``ProcessPoolExecutor``, ``distributed.Client(...).get_executor()``, :class:`RayExecutor`) or a
``distributed.Client`` itself. Dask and Ray are optional extras (``modelsec[dask]``,
``modelsec[ray]``), imported only when asked for.

Example:
    >>> from modelsec.fleet import process_pool
    >>> with process_pool(2) as pool:  # doctest: +SKIP
    ...     async for result in client.scan_many(paths, security_group_uuid=group,
    ...                                         executor=pool):
    ...         print(result.target, result.outcome)
"""

from typing import TYPE_CHECKING, Any

from modelsec.fleet._dispatch import (
    Dispatcher,
    ExecutorLike,
    SupportsGetExecutor,
    TaskLostError,
    WorkerLostError,
    as_executor,
    is_lost_work,
)
from modelsec.fleet._extras import MissingExtraError, import_extra

if TYPE_CHECKING:
    from modelsec.fleet._engines import dask_client, open_executor, process_pool
    from modelsec.fleet._ray import RayExecutor

# Imported on first use: they pull in multiprocessing, and the sync client imports this package
# for ``ExecutorLike`` alone.
_LAZY = {
    "dask_client": "modelsec.fleet._engines",
    "open_executor": "modelsec.fleet._engines",
    "process_pool": "modelsec.fleet._engines",
    "RayExecutor": "modelsec.fleet._ray",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelsec.fleet' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Dispatcher",
    "ExecutorLike",
    "MissingExtraError",
    "RayExecutor",
    "SupportsGetExecutor",
    "TaskLostError",
    "WorkerLostError",
    "as_executor",
    "dask_client",
    "import_extra",
    "is_lost_work",
    "open_executor",
    "process_pool",
]
