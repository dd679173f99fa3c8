"""A ``concurrent.futures.Executor`` over Ray remote functions (extra ``modelsec[ray]``)."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from modelsec.fleet._extras import import_extra

__all__ = ["RayExecutor"]

T = TypeVar("T")


class RayExecutor(cf.Executor):
    """Run calls as Ray tasks: each ``submit`` is one remote call, seen via ``ObjectRef.future()``.

    Connects with ``ray.init(address)`` unless Ray is already initialised in this process
    (then that session is used and left running). ``address`` ``"auto"`` or None joins the local
    cluster if one runs, else starts one on this machine; ``"ray://head:10001"`` or
    ``"head:6379"`` joins a remote cluster. Ray itself retries a task whose worker crashed up
    to ``max_retries`` times; ``scan_many`` retries beyond that. A function's own exception comes
    back unwrapped (not as ``RayTaskError``). The functions must be importable on the workers
    (install modelsec there).

    Example:
        >>> with RayExecutor("auto", num_cpus=2) as ray_pool:  # doctest: +SKIP
        ...     for result in client.scan_many(paths, security_group_uuid=group,
        ...                                    executor=ray_pool):
        ...         print(result.target, result.outcome)
    """

    def __init__(
        self, address: str | None = None, *, max_retries: int = 3, **init_kwargs: Any
    ) -> None:
        ray = import_extra("ray", "ray")
        self._ray = ray
        self.max_retries = max_retries
        self._remotes: dict[Callable[..., Any], Any] = {}
        self._lock = threading.Lock()
        self._owns = False
        self._shutdown = False
        if not ray.is_initialized():
            ray.init(address=None if address == "auto" else address, **init_kwargs)
            self._owns = True

    def _remote(self, fn: Callable[..., Any]) -> Any:
        with self._lock:
            remote = self._remotes.get(fn)
            if remote is None:
                # retry_exceptions=False: a function's own error is a result, not lost work.
                remote = self._ray.remote(max_retries=self.max_retries, retry_exceptions=False)(fn)
                self._remotes[fn] = remote
            return remote

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> cf.Future[T]:
        """Start ``fn(*args, **kwargs)`` as a Ray task."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        ref = self._remote(fn).remote(*args, **kwargs)
        inner: cf.Future[Any] = ref.future()
        outer: cf.Future[T] = cf.Future()
        task_error = self._ray.exceptions.RayTaskError

        def relay(done: cf.Future[Any]) -> None:
            if outer.done():
                return
            if done.cancelled():
                outer.cancel()
                return
            exc = done.exception()
            if exc is None:
                outer.set_result(done.result())
            elif isinstance(exc, task_error) and isinstance(exc.cause, Exception):
                outer.set_exception(exc.cause)  # the function's own error, as raised
            else:
                outer.set_exception(exc)

        def cancel_task(done: cf.Future[T]) -> None:
            if done.cancelled():
                try:
                    self._ray.cancel(ref)
                except Exception:  # already finished or gone: nothing to stop
                    pass

        outer.add_done_callback(cancel_task)
        inner.add_done_callback(relay)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; disconnect from Ray if this executor connected."""
        self._shutdown = True
        if self._owns:
            self._owns = False
            self._ray.shutdown()
