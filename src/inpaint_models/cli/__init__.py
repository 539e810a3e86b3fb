"""The ``inpaint`` command line: ``inpaint models | fill | sample | train | fit | masks | eval``.

Each subcommand lives in its own module of this package and exposes two
functions; :func:`main` imports the modules named in :data:`SUBCOMMANDS`::

    def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        '''Add the subcommand: ``parser = subparsers.add_parser(NAME, help=..., description=...)``,
        add its arguments, and return ``parser``.'''

    def run(args: argparse.Namespace) -> int:
        '''Do the work and return the exit status (0 = success).'''

``run`` does not catch library errors: it lets :class:`~inpaint_models.contract.errors.InpaintError`
(and any ``ValueError``), ``FileNotFoundError`` / ``OSError``,
:class:`~inpaint_models.contract.errors.PluginConflictError`,
:class:`~inpaint_models.contract.errors.PluginError`,
:class:`~inpaint_models.contract.errors.Cancelled` and ``KeyboardInterrupt`` propagate;
:func:`main` prints them as one line ``inpaint: error: <message>`` on stderr and
returns :data:`EXIT_INPUT` (2), :data:`EXIT_PLUGIN` (3) for a model plugin's fault,
:data:`EXIT_INTERRUPTED` (130) when interrupted. Set ``INPAINT_DEBUG=1`` to get the full
traceback instead. Results go to stdout; progress bars (tqdm), warnings and
notes go to stderr (see :mod:`inpaint_models.cli._common` for shared helpers).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import NoReturn, Optional, Sequence

from inpaint_models.contract.errors import Cancelled, ClusterError, PluginConflictError, PluginError

#: Subcommand modules, in the order ``inpaint --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = ("models", "fill", "sample", "train", "fit", "masks", "eval")

DEBUG_ENV_VAR = "INPAINT_DEBUG"

#: exit statuses: a usage or input error (bad file, option, mask...; a plugin installation conflict)
EXIT_INPUT = 2
#: a model plugin failed (raised, or returned what the contract does not allow): not the input's fault
EXIT_PLUGIN = 3
#: the machinery failed, not the input: a dask cluster whose workers keep dying or that has none
EXIT_CLUSTER = 4
#: Ctrl-C or a cancelled run
EXIT_INTERRUPTED = 130

__all__ = ["EXIT_CLUSTER", "EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_PLUGIN", "SUBCOMMANDS", "build_parser", "main"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``inpaint: error: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"inpaint: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> ArgumentParser:
    """The ``inpaint`` argument parser with every subcommand."""
    from inpaint_models import __version__

    parser = ArgumentParser(
        prog="inpaint",
        description="Image inpainting from the terminal: fill masked pixels with classical or deep models.",
        epilog="Run 'inpaint COMMAND --help' for the options of a command. Set INPAINT_DEBUG=1 for tracebacks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.add_parser(subparsers).set_defaults(_run=module.run)
    return parser


def _one_line(message: str) -> str:
    return " ".join(str(message).split()) or "unknown error"


def _error(message: str, status: int) -> int:
    print(f"inpaint: error: {_one_line(message)}", file=sys.stderr)
    return status


def _os_error_message(error: OSError) -> str:
    if error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename}"
    return str(error)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"inpaint: warning: {_one_line(str(message))}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``inpaint`` command line and return its exit status.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success, 2 for a usage or input error, 3 when a model plugin failed
        (both printed as one line on stderr), 130 when interrupted; a subcommand
        may return 1 for a partial failure (e.g. some images of a folder could not be filled).
    """
    debug = os.environ.get(DEBUG_ENV_VAR, "").strip() not in ("", "0")
    previous_showwarning = warnings.showwarning
    if not debug:
        warnings.showwarning = _show_warning
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
        run = getattr(args, "_run", None)
        if run is None:
            commands = ", ".join(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
            return _error(f"choose a command: {commands} (see 'inpaint --help')", EXIT_INPUT)
        return int(run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        return _error("interrupted", EXIT_INTERRUPTED)
    except Cancelled as error:
        if debug:
            raise
        return _error(f"cancelled: {error}" if str(error) else "cancelled", EXIT_INTERRUPTED)
    except PluginError as error:  # raised from the plugin's own exception: INPAINT_DEBUG=1 shows both
        if debug:
            raise
        return _error(str(error), EXIT_PLUGIN)
    except (ValueError, PluginConflictError) as error:  # InpaintError is a ValueError
        if debug:
            raise
        return _error(str(error), EXIT_INPUT)
    except ClusterError as error:  # a ConnectionError, so before OSError
        if debug:
            raise
        return _error(str(error), EXIT_CLUSTER)
    except BrokenPipeError:  # output piped into `head`: stop quietly, as Python's docs advise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as error:  # FileNotFoundError, PermissionError, disk full...
        if debug:
            raise
        return _error(_os_error_message(error), EXIT_INPUT)
    finally:
        warnings.showwarning = previous_showwarning
