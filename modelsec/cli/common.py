"""Shared pieces of the CLI: connection flags, the client, errors, tables and JSON output.

Example:
    >>> parse_labels(["team=ml", "env=prod"])
    {'team': 'ml', 'env': 'prod'}
    >>> source_type_of("hf://org/model"), source_type_of("./model")
    ('HUGGING_FACE', 'LOCAL')
"""

from __future__ import annotations

import argparse
import datetime as _dt
import enum
import importlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import urlparse

from modelsec.cli.formats import safe_text
from modelsec.client import AsyncModelSecurityClient
from modelsec.config import ENV_NAMES, ROOT_ENDPOINT_ENV
from modelsec.errors import MissingVariableError, OAuthError, PayloadError

__all__ = [
    "CLIError",
    "HelpFormatter",
    "add_connection_options",
    "add_output_options",
    "cli_words",
    "is_uuid",
    "make_client",
    "parse_labels",
    "print_items",
    "print_object",
    "read_json_arg",
    "redact_argv",
    "resolve_group_uuid",
    "secrets_of",
    "source_type_of",
    "to_plain",
]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def is_uuid(value: str) -> bool:
    """True for a canonical UUID string."""
    return bool(_UUID.match(value))


# ---------------------------------------------------------------------------------- options


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps hand-written descriptions as they are and shows each option's default.

    A default is shown when it says something: not None, False, empty, or a flag's count 0.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or "default:" in text or not action.option_strings:
            return text
        if d is None or d is False or d == "" or d == [] or d is argparse.SUPPRESS:
            return text
        if isinstance(action, (argparse._VersionAction, argparse._CountAction)):
            return text
        return f"{text} (default: %(default)s)"


def _env_help(setting: str) -> str:
    return "env " + " / ".join(ENV_NAMES[setting])


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Credential and endpoint flags; each defaults to the SDK's environment variables.

    Defaults are ``SUPPRESS`` so the flags may sit before or after the subcommand.
    """
    g = parser.add_argument_group(
        "connection (default: the SDK's environment variables)",
        "PANW_MODEL_SEC_* > PANW_MGMT_* > MODEL_SECURITY_* / TSG_ID, as in the SDK.",
    )
    s = argparse.SUPPRESS
    g.add_argument(
        "--client-id", default=s, metavar="ID", help=f"OAuth2 client id ({_env_help('client_id')})"
    )
    g.add_argument(
        "--client-secret",
        default=s,
        metavar="SECRET",
        help="OAuth2 client secret; prefer the environment, flags show up in process lists "
        f"({_env_help('client_secret')})",
    )
    g.add_argument(
        "--tsg-id", default=s, metavar="TSG", help=f"tenant (TSG) id ({_env_help('tsg_id')})"
    )
    g.add_argument(
        "--api-endpoint",
        default=s,
        metavar="URL",
        help=f"the .../aims root; data = ROOT/data, mgmt = ROOT/mgmt (env {ROOT_ENDPOINT_ENV})",
    )
    g.add_argument(
        "--data-endpoint",
        default=s,
        metavar="URL",
        help=f"data plane base URL ({_env_help('data_endpoint')})",
    )
    g.add_argument(
        "--mgmt-endpoint",
        default=s,
        metavar="URL",
        help=f"management plane base URL ({_env_help('mgmt_endpoint')})",
    )
    g.add_argument(
        "--token-endpoint",
        default=s,
        metavar="URL",
        help=f"OAuth2 token URL ({_env_help('token_endpoint')})",
    )
    g.add_argument(
        "--max-retries", default=s, type=int, metavar="N", help="retries per call (default 2)"
    )
    g.add_argument(
        "--request-timeout",
        default=s,
        type=float,
        metavar="SECONDS",
        help="timeout of one API call (default: the SDK's)",
    )


def add_output_options(
    parser: argparse.ArgumentParser,
    *,
    choices: Sequence[str] = ("table", "json"),
    default: str = "table",
) -> None:
    """``--format table|json`` for resource commands."""
    parser.add_argument(
        "-f",  # as in 'modelsec scan -f json'
        "--format",
        choices=tuple(choices),
        default=default,
        help="output format (default: %(default)s)",
    )


def _opt(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def make_client(args: argparse.Namespace) -> AsyncModelSecurityClient:
    """An async client from the connection flags, the environment filling the gaps."""
    data = _opt(args, "data_endpoint")
    mgmt = _opt(args, "mgmt_endpoint")
    root = _opt(args, "api_endpoint")
    if root:
        root = root.rstrip("/")
        data = data or f"{root}/data"
        mgmt = mgmt or f"{root}/mgmt"
    kwargs: dict[str, Any] = {
        "client_id": _opt(args, "client_id"),
        "client_secret": _opt(args, "client_secret"),
        "tsg_id": _opt(args, "tsg_id"),
        "data_endpoint": data,
        "mgmt_endpoint": mgmt,
        "token_endpoint": _opt(args, "token_endpoint"),
        "user_agent": "modelsec-cli",
    }
    retries = _opt(args, "max_retries")
    if retries is not None:
        kwargs["max_retries"] = retries
    timeout = _opt(args, "request_timeout")
    if timeout is not None:
        kwargs["timeout"] = timeout
    return AsyncModelSecurityClient(**kwargs)


# ---------------------------------------------------------------------------------- words

_FLAGS = {"client_id": "--client-id", "client_secret": "--client-secret", "tsg_id": "--tsg-id"}
_NAMES = {"client_id": "client id", "client_secret": "client secret", "tsg_id": "tenant id"}


def cli_words(exc: BaseException) -> str:
    """An error's message as the command line would say it (flags, not keyword arguments).

    Example:
        >>> cli_words(MissingVariableError("tsg_id", ["PANW_MODEL_SEC_TSG_ID", "TSG_ID"]))
        'no tenant id given: pass --tsg-id or set PANW_MODEL_SEC_TSG_ID (or TSG_ID)'
    """
    if isinstance(exc, MissingVariableError) and exc.setting in _FLAGS:
        first, *others = exc.variables or ENV_NAMES[exc.setting]
        more = f" (or {', '.join(others)})" if others else ""
        return f"no {_NAMES[exc.setting]} given: pass {_FLAGS[exc.setting]} or set {first}{more}"
    message = str(getattr(exc, "message", None) or exc)
    if isinstance(exc, OAuthError) and exc.status_code in (400, 401, 403):
        if "scope" in message or "tsg" in message.lower():
            return f"{message} (check --tsg-id / {ENV_NAMES['tsg_id'][0]})"
        return (
            f"{message} (check --client-id and --client-secret / "
            f"{ENV_NAMES['client_id'][0]}, {ENV_NAMES['client_secret'][0]})"
        )
    if isinstance(exc, PayloadError):
        # The SDK names its keyword arguments; the command line has flags for them.
        return _SDK_WORD.sub(lambda m: "--" + m.group(1).replace("_", "-"), message, count=1)
    return message


_SDK_WORD = re.compile(
    r"^(data_endpoint|mgmt_endpoint|token_endpoint|client_id|client_secret|tsg_id|max_retries)\b"
)


def secrets_of(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> list[str]:
    """The secret values a command may hold: ``--client-secret`` and the secret variables.

    Example:
        >>> secrets_of(argparse.Namespace(client_secret="s3"), env={"TSG_ID": "1"})
        ['s3']
    """
    environ = os.environ if env is None else env
    found = [getattr(args, "client_secret", None)]
    found += [environ.get(var) for var in ENV_NAMES["client_secret"]]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_argv(argv: Sequence[str], secrets: Iterable[str]) -> list[str]:
    """``argv`` with every secret value replaced by ``***``, wherever and however it appears.

    The value after ``--client-secret`` is hidden too, whatever it is.

    Example:
        >>> redact_argv(["scan", "--client-secret=s3", "-l", "k=s3"], ["s3"])
        ['scan', '--client-secret=***', '-l', 'k=***']
    """
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        if arg == "--client-secret":
            hide_next = True
        elif arg.startswith("--client-secret="):
            arg = "--client-secret=***"
        for value in values:
            arg = arg.replace(value, "***")
        out.append(arg)
    return out


# ---------------------------------------------------------------------------------- parsing


_LABEL_PART = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_labels(values: Iterable[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (later keys win), checked like the service does.

    Example:
        >>> parse_labels(["a=1", "a=2"])
        {'a': '2'}
    """
    out: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise CLIError(f"label {item!r} must look like key=value")
        for part, limit in ((key, 128), (value, 256)):
            if not _LABEL_PART.match(part) or len(part) > limit:
                raise CLIError(
                    f"label {item!r}: keys (1..128) and values (1..256) take only "
                    "letters, digits, '_' and '-'"
                )
        out[key] = value
    return out


def read_json_arg(value: str, what: str) -> Any:
    """JSON given inline, as ``@file``, or as ``-`` for stdin."""
    try:
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            with open(value[1:], encoding="utf-8") as fh:
                text = fh.read()
        else:
            text = value
        return json.loads(text)
    except OSError as exc:
        raise CLIError(f"{what}: cannot read {value[1:]!r}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CLIError(f"{what} is not valid JSON: {exc}") from exc


def source_type_of(target: str) -> str:
    """The source type a scan target belongs to.

    Local paths are ``LOCAL``; ``hf://`` and huggingface.co ``HUGGING_FACE``; ``s3://`` ``S3``;
    ``gs://`` ``GCS``; ``*.blob.core.windows.net`` ``AZURE``; ``*.jfrog.io`` ``ARTIFACTORY``;
    URLs with ``/-/ml/models/`` ``GITLAB``.

    Example:
        >>> source_type_of("https://acct.blob.core.windows.net/c/m")
        'AZURE'
    """
    u = urlparse(target)
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    if scheme == "hf":
        return "HUGGING_FACE"
    if scheme == "s3":
        return "S3"
    if scheme in ("gs", "gcs"):
        return "GCS"
    if scheme == "az":
        return "AZURE"
    if scheme in ("http", "https"):
        if host in ("huggingface.co", "www.huggingface.co", "hf.co"):
            return "HUGGING_FACE"
        if host.endswith(".blob.core.windows.net"):
            return "AZURE"
        if host.endswith(".jfrog.io"):
            return "ARTIFACTORY"
        if "/-/ml/models" in u.path:
            return "GITLAB"
        if u.path.startswith("/artifactory/"):
            return "ARTIFACTORY"
        raise CLIError(f"cannot tell the source type of {target!r}; pass --group")
    if scheme == "file":
        return "LOCAL"
    if len(scheme) > 1 and "://" in target:
        raise CLIError(f"unsupported model URI scheme {scheme!r} in {target!r}")
    return "LOCAL"


async def resolve_group_uuid(client: AsyncModelSecurityClient, name_or_uuid: str) -> str:
    """A security group's UUID from its UUID (no request) or its name (looked up).

    A name must match exactly one group (exact case first, then ignoring case); none or
    several is a :class:`CLIError` saying so.
    """
    if not name_or_uuid.strip():
        raise CLIError("empty security group: give its UUID or its name")
    if is_uuid(name_or_uuid):
        return name_or_uuid
    # scan.py owns the lookup by name (one implementation for 'scan --group' and the rest).
    from modelsec.cli.commands.scan import resolve_group

    group = await resolve_group(client, name_or_uuid)
    return group if isinstance(group, str) else group.uuid


def is_remote(target: str) -> bool:
    """True for a URI (``scheme://``), False for a local path."""
    return "://" in target and len(urlparse(target).scheme) > 1


# ---------------------------------------------------------------------------------- output


def to_plain(value: Any) -> Any:
    """Wire objects, enums and date-times -> JSON-ready data."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_plain(to_dict())
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _cell(value: Any) -> str:
    value = to_plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return safe_text(value)  # names and messages from the service reach a terminal


def _dig(row: Mapping[str, Any], column: str) -> Any:
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _rich_table(columns: Sequence[str], rows: list[list[str]], stream: TextIO) -> bool:
    if not (getattr(stream, "isatty", None) and stream.isatty()):
        return False
    try:
        console_mod = importlib.import_module("rich.console")
        table_mod = importlib.import_module("rich.table")
    except ImportError:
        return False
    table = table_mod.Table(show_header=True, header_style="bold")
    for c in columns:
        table.add_column(c.upper())
    text_cls = importlib.import_module("rich.text").Text
    for row in rows:
        table.add_row(*(text_cls(cell) for cell in row))  # Text: no markup from the service
    console_mod.Console(file=stream).print(table)
    return True


def print_table(columns: Sequence[str], items: Sequence[Any], stream: TextIO | None = None) -> None:
    """Aligned columns (``rich`` when installed and on a terminal)."""
    out: TextIO = stream if stream is not None else sys.stdout
    plain = [to_plain(i) for i in items]
    rows = [[_cell(_dig(p, c) if isinstance(p, Mapping) else p) for c in columns] for p in plain]
    if _rich_table(columns, rows, out):
        return
    headers = [c.upper() for c in columns]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def print_items(
    items: Sequence[Any], fmt: str, columns: Sequence[str], stream: TextIO | None = None
) -> None:
    """A list as a JSON array or a table."""
    out: TextIO = stream if stream is not None else sys.stdout
    if fmt == "json":
        out.write(json.dumps([to_plain(i) for i in items], indent=2, default=str) + "\n")
    else:
        print_table(columns, items, out)


def print_object(obj: Any, fmt: str, stream: TextIO | None = None) -> None:
    """One object as JSON, or as ``key: value`` lines."""
    out: TextIO = stream if stream is not None else sys.stdout
    data = to_plain(obj)
    if fmt == "json" or not isinstance(data, Mapping):
        out.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        if key == "extra" and not value:
            continue
        out.write(f"{safe_text(key).ljust(width)}  {_cell(value)}\n")


def env_flag(name: str) -> bool:
    """True when the environment variable is set to a truthy value."""
    return os.environ.get(name, "").lower() not in ("", "0", "false", "no")
