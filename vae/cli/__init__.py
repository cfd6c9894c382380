"""The command lines, one module each with its `main` and parser: `train`, `zoo`, `atlas`, `anomaly`, `evaluate`,
`attributes`.

They run as `python -m vae.train` (and so on): each library module ends with a guard that imports its command's
`main` only when run as a script, so no library module, and nothing the pages use, imports a command line. Here: the
argument parser they share, whose errors are one line, never a usage dump or a traceback.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors that point to --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
