"""The argparse tree of ``modelsec`` and :func:`main`.

Errors print one line on stderr (``modelsec: error: ...``) and exit 2; no traceback unless
``MODELSEC_DEBUG=1``.

Example:
    >>> parser = build_parser()
    >>> args = parser.parse_args(["scan", "--offline", "./model"])
    >>> args.offline, args.targets, args.format
    (True, ['./model'], 'text')
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from modelsec._version import __version__
from modelsec.cli import demo
from modelsec.cli.commands import policy as policy_commands
from modelsec.cli.commands import resources, scan
from modelsec.cli.common import CLIError, add_connection_options
from modelsec.cli.formats import safe_text
from modelsec.errors import AISecSDKException

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
modelsec: scan ML models for unsafe code and gate them on the Prisma AIRS Model Security
policy -- through the service, against a local emulator, or fully offline.
"""

EPILOG = """\
first steps:
  modelsec demo                              see it work, offline, in a few seconds
  modelsec scan --offline ./my-model         no service: local scanner + default LOCAL rules
  modelsec scan ./my-model hf://org/model    through the service (credentials below)

credentials and endpoints come from the SDK's environment variables:
  PANW_MODEL_SEC_CLIENT_ID, PANW_MODEL_SEC_CLIENT_SECRET, PANW_MODEL_SEC_TSG_ID
  (or PANW_MGMT_*, or MODEL_SECURITY_CLIENT_ID/_SECRET and TSG_ID),
  PANW_MODEL_SEC_DATA_ENDPOINT, PANW_MODEL_SEC_MGMT_ENDPOINT, PANW_MODEL_SEC_TOKEN_ENDPOINT
  or MODEL_SECURITY_API_ENDPOINT (the .../aims root); flags such as --client-id override them.

'modelsec COMMAND --help' tells more about each command.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = _Parser(
        prog="modelsec",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modelsec {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log requests to stderr (-vv: with bodies, secrets redacted)",
    )
    add_connection_options(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    scan.add_parser(sub)
    demo.add_parser(sub)
    sub.add_parser(
        "emulator",
        help="run the local emulator of the service (same as modelsec-emulator)",
        add_help=False,
    )
    resources.add_parsers(sub)
    policy_commands.add_parser(sub)
    return parser


def _emulator(argv: Sequence[str]) -> int:
    from modelsec.emulator.__main__ import build_parser as emulator_parser
    from modelsec.emulator.__main__ import main as emulator_main

    p = emulator_parser()
    p.prog = "modelsec emulator"
    p.parse_args(argv)  # --help and usage errors speak as 'modelsec emulator'
    return emulator_main(list(argv))


def _setup_logging(verbosity: int) -> None:
    if verbosity <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("modelsec")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def _error(message: str) -> int:
    text = safe_text(" ".join(str(message).split()))  # one line, whatever the message held
    sys.stderr.write(f"modelsec: error: {text}\n")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``modelsec`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
        modelsec 0.1.0
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        try:
            return _emulator(args_list[1:])
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    func: Any = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = args_list
    _setup_logging(args.verbose)
    debug = os.environ.get("MODELSEC_DEBUG", "") not in ("", "0")
    try:
        code: int = func(args)
        return code
    except KeyboardInterrupt:
        sys.stderr.write("modelsec: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. '| head'): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CLIError, AISecSDKException) as exc:
        if debug:
            traceback.print_exc()
        return _error(getattr(exc, "message", None) or str(exc))
    except (OSError, ValueError) as exc:
        if debug:
            traceback.print_exc()
        return _error(f"{type(exc).__name__}: {exc}")
