"""The argparse tree of ``modelsec`` and :func:`main`.

Errors print one line on stderr (``modelsec: error: ...``) and exit 2; no traceback unless
``MODELSEC_DEBUG=1``.

Conventions every command follows (applied to the whole tree by :func:`_finish_tree`): no
abbreviated options (``--client-secre`` is an error, not ``--client-secret``); ``--version``
and ``--help`` everywhere, the help showing defaults; choices match in any case
(``--outcome blocked``); ``-v``, ``-q`` and the connection flags before or after the
subcommand.

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
from modelsec.cli.common import (
    CLIError,
    HelpFormatter,
    add_connection_options,
    cli_words,
    redact_argv,
    secrets_of,
)
from modelsec.cli.formats import safe_text
from modelsec.cli.waiting import Waiting, host_of
from modelsec.config import DEFAULT_MGMT_ENDPOINT, ENV_NAMES, ROOT_ENDPOINT_ENV
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
    """An ArgumentParser whose usage errors are one line on stderr, exit 2; no abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # Raised, not printed: main() prints it with any secret of the command line removed
        # (argparse quotes the offending word, which may be a secret given to a bad option).
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class UsageError(SystemExit):
    """A command line argparse refused: exit status 2 and a one-line ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def _guess_secrets(argv: Sequence[str]) -> list[str]:
    """Secret values in a command line that may not parse: the value of ``--client-secret``
    however abbreviated or misspelled (``--client-secre X``, ``--client-s=X``)."""
    found: list[str] = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if len(name) > len("--client-") and "--client-secret".startswith(name):
            if eq:
                found.append(value)
            elif i + 1 < len(argv):
                found.append(argv[i + 1])
    return found


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = _Parser(
        prog="modelsec",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modelsec {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    parser.add_argument("-q", "--quiet", dest="quiet_before", action="store_true", help=_QUIET_HELP)
    add_connection_options(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    scan.add_parser(sub)
    demo.add_parser(sub)
    _add_emulator(sub)
    resources.add_parsers(sub)
    policy_commands.add_parser(sub)
    from modelsec.cli import completion

    completion.add_parser(sub, parser)
    _finish_tree(parser)
    return parser


_VERBOSE_HELP = "log requests to stderr (-vv: with bodies, secrets redacted)"
_QUIET_HELP = "no progress line and no notes on stderr; results and errors only"
# Subcommands that take no connection flags: they never talk to a service of the user's.
_OFFLINE_COMMANDS = ("demo", "emulator", "completion")


def _add_emulator(sub: Any) -> None:
    from modelsec.emulator.__main__ import add_arguments

    p: argparse.ArgumentParser = sub.add_parser(
        "emulator",
        help="run the local emulator of the service and print the export lines for it",
        description="Run the local emulator of the Model Security service (loopback, no "
        "account). It prints its URL and the 'export' lines that point the SDK and the CLI "
        "at it. With --env it runs in the background and prints only those lines, so that\n"
        '  eval "$(modelsec emulator --env)"\n'
        "starts it and sets the variables in your shell "
        '(stop it with: kill "$MODELSEC_EMULATOR_PID").',
    )
    add_arguments(p)
    p.set_defaults(func=_run_emulator)


def _run_emulator(args: argparse.Namespace) -> int:
    from modelsec.emulator.__main__ import run

    return run(args, prog="modelsec emulator")


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """``(name, parser)`` of each direct subcommand (aliases left out)."""
    out: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) not in seen:
                    seen.add(id(child))
                    out.append((name, child))
    return out


def _case_insensitive(action: argparse.Action) -> None:
    """Let ``--outcome blocked`` mean ``BLOCKED``: map a value to its choice ignoring case."""
    choices = list(action.choices or ())
    if not choices or not all(isinstance(c, str) for c in choices):
        return
    inner = action.type if callable(action.type) else str
    by_fold = {c.casefold(): c for c in choices}

    def convert(text: str) -> Any:
        value = inner(text)
        if isinstance(value, str) and value not in choices:
            return by_fold.get(value.casefold(), value)
        return value

    convert.__name__ = getattr(inner, "__name__", "str")  # argparse names it in errors
    action.type = convert


def _finish_tree(root: argparse.ArgumentParser) -> None:
    """Apply the conventions to every parser below ``root`` (see the module docstring)."""

    def visit(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        parser.allow_abbrev = False
        parser.formatter_class = HelpFormatter
        options = parser._option_string_actions
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                _case_insensitive(action)
        if len(path) == 1:
            parser.set_defaults(command=path[0])
        if path:
            if "--version" not in options:
                parser.add_argument(
                    "--version", action="version", version=f"modelsec {__version__}"
                )
            g = parser.add_argument_group("global options (also accepted before the command)")
            if "-v" not in options:
                g.add_argument(
                    "-v",
                    "--verbose",
                    dest="verbose_after",
                    action="count",
                    default=argparse.SUPPRESS,
                    help=_VERBOSE_HELP,
                )
            if "-q" not in options:
                g.add_argument(
                    "-q",
                    "--quiet",
                    dest="quiet",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help=_QUIET_HELP,
                )
            if path[0] not in _OFFLINE_COMMANDS and "--client-id" not in options:
                add_connection_options(parser)
        for name, child in _subparsers(parser):
            visit(child, (*path, name))

    visit(root, ())


def _waiting_for(args: argparse.Namespace) -> tuple[str, bool | None]:
    """What a command that talks to the service waits for, and whether to show it at all."""
    offline = getattr(args, "command", None) in _OFFLINE_COMMANDS or getattr(args, "offline", False)
    if offline or args.quiet or getattr(args, "no_progress", False):
        return "", False
    mgmt = getattr(args, "mgmt_endpoint", None) or os.environ.get(ENV_NAMES["mgmt_endpoint"][0])
    root = getattr(args, "api_endpoint", None) or os.environ.get(ROOT_ENDPOINT_ENV)
    if not mgmt and root:
        mgmt = root.rstrip("/") + "/mgmt"
    return host_of(mgmt or DEFAULT_MGMT_ENDPOINT), None


def _merge_globals(args: argparse.Namespace) -> None:
    """One value for the flags that may sit before and after the subcommand."""
    args.verbose = int(getattr(args, "verbose", 0) or 0) + int(getattr(args, "verbose_after", 0))
    args.quiet = bool(getattr(args, "quiet", False) or getattr(args, "quiet_before", False))


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
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except UsageError as exc:
        secrets = secrets_of(argparse.Namespace()) + _guess_secrets(args_list)
        sys.stderr.write(" ".join(redact_argv([exc.message], secrets)) + "\n")
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    func: Any = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    _merge_globals(args)
    # Every secret the command knows, removed by value wherever it sits in the command line
    # (reports such as SARIF's commandLine show it): whatever the option's spelling.
    args.argv = redact_argv(args_list, secrets_of(args))
    _setup_logging(args.verbose)
    debug = os.environ.get("MODELSEC_DEBUG", "") not in ("", "0")
    try:
        # A line on a terminal while a token fetch, a request or a wait takes over a second.
        what, enabled = _waiting_for(args)
        with Waiting(what, enabled=enabled):
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
        return _error(cli_words(exc))
    except (OSError, ValueError) as exc:
        if debug:
            traceback.print_exc()
        return _error(f"{type(exc).__name__}: {exc}")
