"""``modelsec emulator`` / ``modelsec-emulator`` / ``python -m modelsec.emulator``.

Runs the emulator in the foreground. Once it listens it prints one line with its base URL and
the ``export`` lines that point the SDK and the CLI at it. With ``--env`` it runs in the
background instead (ssh-agent style): it prints only those lines once the server listens and
returns, the server running on in a session of its own until it is killed::

    eval "$(modelsec emulator --env)"       # starts it in the background, exports its settings
    modelsec groups list                    # talks to the emulator
    kill "$MODELSEC_EMULATOR_PID"           # stops it

A port that is busy or out of range, or an address that cannot be bound, is one line on stderr
and exit status 2.

Example:
    >>> print(export_lines({"client_id": "id", "client_secret": "s", "tsg_id": "1",
    ...     "data_endpoint": "http://127.0.0.1:8765/aims/data",
    ...     "mgmt_endpoint": "http://127.0.0.1:8765/aims/mgmt",
    ...     "token_endpoint": "http://127.0.0.1:8765/oauth2/access_token"}, pid=42))
    export PANW_MODEL_SEC_CLIENT_ID=id
    export PANW_MODEL_SEC_CLIENT_SECRET=s
    export PANW_MODEL_SEC_TSG_ID=1
    export PANW_MODEL_SEC_DATA_ENDPOINT=http://127.0.0.1:8765/aims/data
    export PANW_MODEL_SEC_MGMT_ENDPOINT=http://127.0.0.1:8765/aims/mgmt
    export PANW_MODEL_SEC_TOKEN_ENDPOINT=http://127.0.0.1:8765/oauth2/access_token
    export MODELSEC_EMULATOR_PID=42
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from modelsec._version import __version__
from modelsec.emulator.faults import Faults
from modelsec.emulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TSG_ID,
    Emulator,
)

__all__ = ["ENV_VARS", "add_arguments", "build_parser", "export_lines", "main", "run"]

# The SDK's own variable names (modelsec.config.ENV_NAMES, first choice of each), so the
# exported values win over any PANW_MGMT_* / MODEL_SECURITY_* already set in the shell.
ENV_VARS: Mapping[str, str] = {
    "client_id": "PANW_MODEL_SEC_CLIENT_ID",
    "client_secret": "PANW_MODEL_SEC_CLIENT_SECRET",
    "tsg_id": "PANW_MODEL_SEC_TSG_ID",
    "data_endpoint": "PANW_MODEL_SEC_DATA_ENDPOINT",
    "mgmt_endpoint": "PANW_MODEL_SEC_MGMT_ENDPOINT",
    "token_endpoint": "PANW_MODEL_SEC_TOKEN_ENDPOINT",
}
PID_VAR = "MODELSEC_EMULATOR_PID"


class _Formatter(argparse.HelpFormatter):
    """Shows an option's default when it says something (not None, False or empty)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d in (None, False, "", [], argparse.SUPPRESS):
            return text
        if not action.option_strings or isinstance(action, argparse._VersionAction):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 2."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range (0..65535; 0 picks one)")
    return value


def _tenant(text: str) -> tuple[str, str, str]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected CLIENT_ID:SECRET:TSG_ID, got {text!r}")
    return parts[0], parts[1], parts[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The emulator's options, on ``p`` (its own parser or the ``modelsec emulator`` one).

    The credential options default to ``SUPPRESS`` so that ``modelsec --client-id X emulator``
    (the flag before the subcommand) is honoured too; :func:`run` fills in the defaults.
    """
    s = argparse.SUPPRESS
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument(
        "--env",
        action="store_true",
        help="run in the background and print only the export lines, once it listens: "
        'eval "$(modelsec emulator --env)"; stop it with kill "$MODELSEC_EMULATOR_PID"',
    )
    p.add_argument(
        "--client-id", default=s, help=f"client id it accepts (default: {DEFAULT_CLIENT_ID})"
    )
    p.add_argument(
        "--client-secret",
        default=s,
        help=f"client secret it accepts (default: {DEFAULT_CLIENT_SECRET})",
    )
    p.add_argument("--tsg-id", default=s, help=f"tenant id (default: {DEFAULT_TSG_ID})")
    p.add_argument(
        "--tenant",
        action="append",
        type=_tenant,
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
    f.add_argument("--seed", type=int, default=0, help="seed of the fault dice")
    f.add_argument(
        "--error-rates", default="", metavar="500=0.05,503=0.05", help="status=probability,..."
    )
    f.add_argument("--rate-limit", type=float, default=0.0, help="probability of a 429")
    f.add_argument("--retry-after", default="1", help="Retry-After value of injected 429s")
    f.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    f.add_argument("--latency-jitter", type=float, default=0.0, help="seconds, at most")
    f.add_argument("--reset-before", type=float, default=0.0, help="probability")
    f.add_argument("--reset-after", type=float, default=0.0, help="probability")
    f.add_argument("--token-expiry", type=float, default=0.0, help="probability")
    f.add_argument("--fault-token-endpoint", action="store_true", help="inject faults there too")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``modelsec-emulator``."""
    p = _Parser(
        prog="modelsec-emulator",
        description="Local emulator of the Model Security API.",
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"modelsec {__version__}")
    add_arguments(p)
    return p


def export_lines(client_kwargs: Mapping[str, str], *, pid: int | None = None) -> str:
    """POSIX shell ``export`` lines for the SDK's variables (values quoted for the shell)."""
    lines = [f"export {var}={shlex.quote(client_kwargs[key])}" for key, var in ENV_VARS.items()]
    if pid is not None:
        lines.append(f"export {PID_VAR}={pid}")
    return "\n".join(lines)


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


def _announce(emu: Emulator) -> None:
    exports = export_lines(emu.client_kwargs(), pid=os.getpid())
    sys.stdout.write(
        f"modelsec-emulator listening on {emu.base_url} (tsg_id={emu.tsg_id})\n"
        "point the SDK and the CLI at it (copy into your shell):\n"
        f"{exports}\n"
    )
    sys.stdout.flush()


def _announce_env_here(emu: Emulator) -> None:
    """``--env`` where there is no fork: print the lines, then close our stdout."""
    sys.stdout.write(export_lines(emu.client_kwargs(), pid=os.getpid()) + "\n")
    sys.stdout.flush()
    # "$(modelsec emulator --env &)" returns at end-of-file while the server runs on.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def _serve(
    a: argparse.Namespace,
    tenants: dict[str, tuple[str, str]],
    ready: Callable[[Emulator], None],
) -> None:
    emu = Emulator(
        host=a.host,
        port=a.port,
        client_id=getattr(a, "client_id", DEFAULT_CLIENT_ID),
        client_secret=getattr(a, "client_secret", DEFAULT_CLIENT_SECRET),
        tsg_id=getattr(a, "tsg_id", DEFAULT_TSG_ID),
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
        # A shell starts '&' jobs with SIGINT ignored: keep it so, or a Ctrl-C typed at the
        # prompt later would stop a server the user put in the background.
        if sig == signal.SIGINT and signal.getsignal(sig) is signal.SIG_IGN:
            continue
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await emu.start()
    except BaseException:
        await emu.stop()
        raise
    try:
        ready(emu)
        await stop.wait()
    finally:
        await emu.stop()


def _bind_error(a: argparse.Namespace, exc: OSError) -> str:
    where = f"{a.host}:{a.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use (try --port 0 for a free one)"
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return f"cannot listen on {where}: no such local address"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def _serve_until_stopped(
    a: argparse.Namespace,
    ready: Callable[[Emulator], None],
    fail: Callable[[str], None],
    prog: str,
) -> int:
    tenants = {cid: (secret, tsg) for cid, secret, tsg in a.tenant}
    try:
        asyncio.run(_serve(a, tenants, ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"{prog}: error: {_bind_error(a, exc)}")
        return 2
    except ValueError as exc:  # e.g. a malformed --error-rates
        fail(f"{prog}: error: {exc}")
        return 2
    return 0


def _to_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


def _run_detached(a: argparse.Namespace, prog: str) -> int:
    """``--env``: serve from a child of its own (ssh-agent style) and print its settings.

    The parent waits until the child listens (or failed), prints the export lines (or the
    one-line error) and exits; the child keeps serving in a session of its own, with no
    terminal and nothing open on the caller's pipes, so ``eval "$(modelsec emulator --env)"``
    returns at once, with or without ``&``, even behind a shell function.
    """
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the server
        code = 2
        try:
            os.close(read_fd)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.close(null)
            report = os.fdopen(write_fd, "w")

            def tell(text: str) -> None:
                if not report.closed:
                    report.write(text)
                    report.close()

            def ready(emu: Emulator) -> None:
                tell("ok\n" + export_lines(emu.client_kwargs(), pid=os.getpid()))

            code = _serve_until_stopped(a, ready, lambda m: tell("error\n" + m), prog)
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as report:
        status, _, body = report.read().partition("\n")
    if status == "ok":
        sys.stdout.write(body + "\n")
        sys.stdout.flush()
        return 0
    os.waitpid(pid, 0)
    sys.stderr.write((body or f"{prog}: error: the emulator did not start") + "\n")
    return 2


def run(a: argparse.Namespace, *, prog: str = "modelsec-emulator") -> int:
    """Serve until SIGINT/SIGTERM with parsed options ``a``; returns the exit status."""
    if a.env and hasattr(os, "fork"):
        return _run_detached(a, prog)
    ready = _announce_env_here if a.env else _announce
    return _serve_until_stopped(a, ready, _to_stderr, prog)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``modelsec-emulator``."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
