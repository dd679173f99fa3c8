"""What keeps ``modelsec scan`` a gate: nothing judged is no pass, empty flags are errors,
and a target left unfinished by Ctrl-C is reported as such.

Example:
    >>> mr = ModelResult(target="./empty", outcome="ALLOWED", files_scanned=0)
    >>> mark_nothing_judged(mr, nothing_judged=True, allow_empty=False)
    >>> mr.outcome, mr.error_code, mr.exit_code(block_on_errors=True)
    ('ERROR', 'NOTHING_SCANNED', 2)
"""

from __future__ import annotations

import argparse

from modelsec.cli.common import CLIError, is_remote
from modelsec.cli.formats import ModelResult

__all__ = [
    "INTERRUPTED",
    "NOTHING_SCANNED",
    "interrupted_result",
    "mark_nothing_judged",
    "reject_empty",
]

#: ``error_code`` of a target in which the scanner judged no file (unless ``--allow-empty``).
NOTHING_SCANNED = "NOTHING_SCANNED"
#: ``error_code`` of a target not finished when Ctrl-C was pressed.
INTERRUPTED = "INTERRUPTED"


def mark_nothing_judged(mr: ModelResult, *, nothing_judged: bool, allow_empty: bool) -> None:
    """An ALLOWED verdict on a target in which no file was judged becomes an ERROR.

    An empty directory, a folder of READMEs or a file the scanner did not recognise pass every
    rule vacuously; in CI that is a wrong path or a broken checkout, never a pass. Such a
    result is not ``settled``: it stays exit 2 even with ``--block-on-errors``.

    Example:
        >>> mr = ModelResult(target="./m", outcome="ALLOWED")
        >>> mark_nothing_judged(mr, nothing_judged=True, allow_empty=True)
        >>> mr.outcome
        'ALLOWED'
    """
    if not nothing_judged or allow_empty or mr.outcome != "ALLOWED":
        return
    mr.outcome = "ERROR"
    mr.settled = False
    mr.error_code = NOTHING_SCANNED
    mr.error_message = (
        f"nothing judged: no file here is a model the scanner could read "
        f"({mr.files_scanned or 0} scanned, {mr.files_skipped or 0} skipped); "
        "a wrong path or an empty checkout? (--allow-empty lets it pass)"
    )


#: Flags whose empty value (an unset CI variable) would fall back to something weaker.
_NO_EMPTY = (
    ("group", "--group"),
    ("policy", "--policy"),
    ("output", "--output"),
    ("client_id", "--client-id"),
    ("client_secret", "--client-secret"),
    ("tsg_id", "--tsg-id"),
    ("api_endpoint", "--api-endpoint"),
    ("data_endpoint", "--data-endpoint"),
    ("mgmt_endpoint", "--mgmt-endpoint"),
    ("token_endpoint", "--token-endpoint"),
)


def reject_empty(args: argparse.Namespace) -> None:
    """``--group ""`` (an unset variable) is an error, never the default group; same for others.

    Example:
        >>> reject_empty(argparse.Namespace(group="  "))
        Traceback (most recent call last):
        ...
        modelsec.cli.common.CLIError: --group is empty (an unset variable?): ...
    """
    for attr, flag in _NO_EMPTY:
        value = getattr(args, attr, None)
        if isinstance(value, str) and not value.strip():
            raise CLIError(
                f"{flag} is empty (an unset variable?): give a value or leave the flag out"
            )


def interrupted_result(target: str, *, offline: bool) -> ModelResult:
    """The result of a target that Ctrl-C left unfinished (an ERROR, not settled).

    Example:
        >>> interrupted_result("hf://org/m", offline=False).error_code
        'INTERRUPTED'
    """
    return ModelResult(
        target=target,
        outcome="ERROR",
        settled=False,
        source_type="LOCAL" if offline or not is_remote(target) else None,
        local_path=None if is_remote(target) else target,
        error_code=INTERRUPTED,
        error_message="not finished: interrupted (Ctrl-C)",
    )
