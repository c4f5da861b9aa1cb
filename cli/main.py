"""The ``hqvit`` command line. Every subcommand takes ``--json``: one JSON object as the last stdout line.

Bad input exits with status 2 and one ``hqvit: error: ...`` line on stderr; no tracebacks
(set HQVIT_DEBUG=1 to see one for an internal error). Each subcommand is a module of this package
with ``register`` (its arguments) and its command function, which alone imports the heavy
libraries (torch, cirq, the compiler pipeline): building the parser stays well under a second.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from hqvit.cli import ablate, evaluate, noise, quantize, shots, targets, train, verify
from hqvit.cli import compile as compile_command
from hqvit.cli.args import HelpFormatter
from hqvit.cli.output import EXIT_FAILED, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED
from hqvit.ir.errors import CalibrationWarning, InputError, TrainingDiverged

# the order of "hqvit --help"
SUBCOMMANDS = (compile_command, targets, verify, train, evaluate, ablate, shots, noise, quantize)
DISTRIBUTION = "hqvit-compiler"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one ``hqvit: error:`` line (no usage block), exit 2,
    and shows every option's default in its help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"hqvit: error: {message}\n")


class _VersionAction(argparse.Action):
    """``--version``; the version is looked up only when asked, since importlib.metadata costs ~30 ms."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version(DISTRIBUTION)
        except PackageNotFoundError:  # run from a source tree that was never installed
            text = "unknown (not installed)"
        print(f"hqvit {text}")  # on stdout, like argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hqvit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_VersionAction, help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in SUBCOMMANDS:
        command.register(sub)
    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    """Calibration warnings are for the user: one line, no source location."""
    if issubclass(category, CalibrationWarning):
        print(f"hqvit: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _rank() -> int:
    """The launcher's rank (0 without one), read from the environment: no torch import here."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _rank_stopped(e: BaseException) -> bool:
    """A torchrun job lost a rank (``runtime.distributed.RankStopped``); that module is loaded
    whenever one was raised, so the check imports nothing."""
    module = sys.modules.get("hqvit.runtime.distributed")
    return module is not None and isinstance(e, module.RankStopped)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # under torchrun every rank meets the same bad input or divergence: rank 0 says it once
    say = _rank() == 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings
            return args.func(args)
    except InputError as e:
        if say:
            print(f"hqvit: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except TrainingDiverged as e:
        if say:
            print(f"hqvit: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("hqvit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # an internal error: still one line unless debugging
        if _rank_stopped(e):  # each surviving rank says why it stopped (the ranks differ)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the launcher's SIGTERM must not cut the line
            print(f"hqvit: error: {e}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        if os.environ.get("HQVIT_DEBUG"):
            raise
        print(f"hqvit: internal error: {type(e).__name__}: {e} (set HQVIT_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
