"""The ``bayesglmm`` command's entry point: a Ctrl-C is honoured from the process' first instant.

Importing bayesglmm (Bambi, PyMC, nutpie) takes seconds, and nothing inside the package runs
before that import ends. A process started with SIGINT ignored (a background job of a script
inherits that) would lose a Ctrl-C in those seconds and go on to fit and write its output. This
module, outside the package so that it runs before any of it is imported, restores Python's
default SIGINT handler first, so an interrupt during the import stops the run with status 130
and nothing written; ``bayesglmm.cli.main`` then installs its own handlers.

Examples
--------
>>> import bayesglmm_command  # doctest: +SKIP
>>> bayesglmm_command.main()  # doctest: +SKIP
"""

import signal
import sys


def main() -> int:
    """Run ``bayesglmm.cli.main`` on ``sys.argv[1:]``; 130 if interrupted before it starts."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from bayesglmm.cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted: before anything was read (nothing was written)", file=sys.stderr)
        return 130
    try:
        return cli_main()
    except KeyboardInterrupt:  # between the import and cli.main's own handler: nothing has started
        print("interrupted: before anything was read (nothing was written)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
