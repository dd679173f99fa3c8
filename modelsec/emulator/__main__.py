"""``modelsec-emulator`` / ``python -m modelsec.emulator``: run the emulator in the foreground.

Prints one line holding the base URL once it listens, e.g.
``modelsec-emulator listening on http://127.0.0.1:8765 (tsg_id=1234567890)``.

Example:
    $ modelsec-emulator --port 0 --settle-delay 0.2 --hub ./hub --error-rates 500=0.05,503=0.05
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from modelsec.emulator.faults import Faults
from modelsec.emulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TSG_ID,
    Emulator,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line parser."""
    p = argparse.ArgumentParser(
        prog="modelsec-emulator", description="Local emulator of the Model Security API."
    )
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    p.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    p.add_argument("--tsg-id", default=DEFAULT_TSG_ID)
    p.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET:TSG_ID",
        help="extra credentials for another tenant (repeatable)",
    )
    p.add_argument("--token-lifetime", type=float, default=900.0, help="seconds")
    p.add_argument("--settle-delay", type=float, default=1.0, help="seconds a scan stays PENDING")
    p.add_argument(
        "--activation-delay", type=float, default=1.0, help="seconds a new group stays PENDING"
    )
    p.add_argument("--hub", default=None, help="directory remote model URIs resolve against")
    f = p.add_argument_group("faults")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--error-rates", default="", metavar="500=0.05,503=0.05")
    f.add_argument("--rate-limit", type=float, default=0.0, help="probability of a 429")
    f.add_argument("--retry-after", default="1", help="Retry-After value of injected 429s")
    f.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    f.add_argument("--latency-jitter", type=float, default=0.0)
    f.add_argument("--reset-before", type=float, default=0.0, help="probability")
    f.add_argument("--reset-after", type=float, default=0.0, help="probability")
    f.add_argument("--token-expiry", type=float, default=0.0, help="probability")
    f.add_argument("--fault-token-endpoint", action="store_true")
    return p


def _faults(a: argparse.Namespace) -> Faults:
    ra: float | str
    try:
        ra = float(a.retry_after)
    except ValueError:
        ra = a.retry_after
    return Faults(
        error_rates=Faults.parse_error_rates(a.error_rates),
        rate_limit=a.rate_limit,
        retry_after=ra,
        latency=a.latency,
        latency_jitter=a.latency_jitter,
        reset_before=a.reset_before,
        reset_after=a.reset_after,
        token_expiry=a.token_expiry,
        include_token_endpoint=a.fault_token_endpoint,
        seed=a.seed,
    )


async def _serve(a: argparse.Namespace) -> None:
    tenants = {}
    for t in a.tenant:
        cid, secret, tsg = t.rsplit(":", 2)
        tenants[cid] = (secret, tsg)
    emu = Emulator(
        host=a.host,
        port=a.port,
        client_id=a.client_id,
        client_secret=a.client_secret,
        tsg_id=a.tsg_id,
        tenants=tenants,
        token_lifetime=a.token_lifetime,
        settle_delay=a.settle_delay,
        activation_delay=a.activation_delay,
        hub=a.hub,
        faults=_faults(a),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with emu:
        sys.stdout.write(f"modelsec-emulator listening on {emu.base_url} (tsg_id={emu.tsg_id})\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``modelsec-emulator``."""
    args = build_parser().parse_args(argv)
    try:
        if args.tenant:
            for t in args.tenant:
                if t.count(":") < 2:
                    raise SystemExit(f"--tenant expects CLIENT_ID:SECRET:TSG_ID, got {t!r}")
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
