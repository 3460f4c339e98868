"""The ``gtkit`` command: a thin shell over the public API.

Each subcommand parses its arguments, calls public functions a notebook could call, and prints.
User mistakes (any :class:`~gtkit.errors.GtkitError`) print one message and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from gtkit import __version__
from gtkit.errors import GtkitError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``gtkit`` command with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gtkit",
        description="Amazon SageMaker Ground Truth toolkit: manifests, job specs, jobs, "
        "output reading, cost and label-quality analysis, and an offline emulator.",
    )
    parser.add_argument("--version", action="version", version=f"gtkit {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gtkit`` command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except GtkitError as exc:
        print(f"gtkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gtkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
