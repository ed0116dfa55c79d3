"""The ``ouro`` command: a thin shell over the Python API.

Our errors (and missing or unreadable files) become a one-line message and exit
code 1; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import sys

import typer

from ouroboros.cli import collapse, core, detect, evaluate, impute, pipeline, rules, runs, sweep
from ouroboros.cli import lineage as lineage_cli
from ouroboros.cli import privacy as privacy_cli
from ouroboros.errors import OuroborosError

app = typer.Typer(
    name="ouro",
    help="Synthetic tabular data that knows about model collapse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Synthetic tabular data that knows about model collapse."""


for _module in (
    core,
    impute,
    rules,
    evaluate,
    collapse,
    sweep,
    pipeline,
    runs,
    lineage_cli,
    detect,
    privacy_cli,
):
    _module.register(app)

_USER_ERRORS = (OuroborosError, FileNotFoundError, PermissionError, IsADirectoryError)


def run(argv: list[str] | None = None) -> int:
    """Run ``ouro`` with ``argv``; return the exit code instead of exiting."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        app(args=argv, prog_name="ouro")
    except SystemExit as exc:  # typer's standalone mode always ends this way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _USER_ERRORS as exc:
        if debug:
            raise
        message = str(exc).splitlines()
        print(f"error: {message[0] if message else type(exc).__name__}", file=sys.stderr)
        for line in message[1:]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
