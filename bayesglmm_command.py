"""The ``bayesglmm`` command's entry point: a Ctrl-C is honoured from the process' first instant.

Importing bayesglmm (Bambi, PyMC, nutpie) takes seconds, and nothing inside the package runs
before that import ends. This module, outside the package so that it runs before any of it is
imported, installs a SIGINT handler first: it records the signal, then raises KeyboardInterrupt.

The record matters because the exception alone can be lost: Python ignores an exception raised
in a weakref callback or a finaliser (it prints "Exception ignored in ..." and goes on), and the
import machinery runs such callbacks (``importlib._bootstrap._get_module_lock``). A Ctrl-C that
lands there would leave the import to finish and the command to fit and write its outputs. With
the record, the command stops with status 130 and nothing written whether the exception got
through or not; ``bayesglmm.cli.main`` takes the record over and then installs its own handlers.
A process started with SIGINT ignored (a background job of a script inherits that) is covered too.

Examples
--------
>>> import bayesglmm_command  # doctest: +SKIP
>>> bayesglmm_command.main()  # doctest: +SKIP
"""

import signal
import sys

RECEIVED: list[int] = []  # the signals received before bayesglmm.cli.main installs its handlers
STOPPED = "interrupted: before anything was read (nothing was written)"


def record(signum, frame) -> None:
    """The SIGINT handler until ``cli.main`` starts: remember the signal, then raise KeyboardInterrupt."""
    RECEIVED.append(signum)
    raise KeyboardInterrupt


def main() -> int:
    """Run ``bayesglmm.cli.main`` on ``sys.argv[1:]``; 130 if interrupted before it starts."""
    signal.signal(signal.SIGINT, record)
    try:
        from bayesglmm.cli import main as cli_main
    except KeyboardInterrupt:
        print(STOPPED, file=sys.stderr)
        return 130
    return run(cli_main, sys.argv[1:])


def run(cli_main, argv: list[str]) -> int:
    """``cli_main(argv)`` once the package is imported, unless a signal was recorded during the import.

    ``cli_main`` is given the record (``received=``), so a signal whose KeyboardInterrupt a
    library or Python swallowed before ``cli_main`` installs its own handlers still stops it.
    """
    if RECEIVED:
        print(STOPPED, file=sys.stderr)
        return 130
    try:
        return cli_main(argv, received=RECEIVED)
    except KeyboardInterrupt:  # between the import and cli.main's own handler: nothing has started
        print(STOPPED, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
