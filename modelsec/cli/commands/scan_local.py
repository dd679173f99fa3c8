"""Options of ``modelsec scan`` about the local read + scan of each model.

What the scanner judges for (``--target-python``: the interpreter that will load the models)
and where it runs (``--workers`` / ``--dask`` / ``--ray``: threads of this process by default).
Kept apart from :mod:`modelsec.cli.commands.scan`, which drives the scans and the gate.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from modelsec.cli.common import CLIError

__all__ = ["add_fleet_options", "fleet_executor", "target_python_arg"]


def target_python_arg(text: str) -> tuple[str, ...]:
    """``--target-python``: parsed, or a usage error naming the bad item.

    Example:
        >>> target_python_arg("3.12,3.11")
        ('3.11', '3.12')
    """
    from modelsec.scanner.interpreters import parse_target_python

    try:
        return parse_target_python(text) or ()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("target_python: ")) from None


def add_fleet_options(p: argparse.ArgumentParser) -> None:
    """``--workers`` / ``--dask`` / ``--ray``: where the read + scan of local models runs."""
    fleet = p.add_argument_group(
        "where local models are scanned (default: threads of this process)"
    ).add_mutually_exclusive_group()
    fleet.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="N processes on this machine (keep --concurrency above N so that all are busy)",
    )
    fleet.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="a Dask cluster's scheduler (tcp://host:8786), or 'auto' for a local cluster; "
        "needs modelsec[dask]",
    )
    fleet.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="a Ray cluster (ray://host:10001), or 'auto' for the local one; needs modelsec[ray]",
    )


@contextlib.contextmanager
def fleet_executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor ``--workers`` / ``--dask`` / ``--ray`` name (None: threads), closed after."""
    workers, dask, ray = (getattr(args, n, None) for n in ("workers", "dask", "ray"))
    if workers is not None and workers < 1:
        raise CLIError("--workers must be >= 1")
    if not (workers or dask or ray):
        yield None
        return
    from modelsec.fleet import MissingExtraError, open_executor

    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(open_executor(workers=workers, dask=dask, ray=ray))
        except MissingExtraError as exc:
            raise CLIError(str(exc)) from None
        except Exception as exc:  # a cluster we cannot reach: one line, no traceback
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise CLIError(f"cannot start or reach the executor: {detail}") from exc
        yield executor
