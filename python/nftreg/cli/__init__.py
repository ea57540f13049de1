"""The ``nftreg`` command line (console script ``nftreg = nftreg.cli:main``); see ``main.py``."""

from nftreg.cli.main import app, main

__all__ = ["app", "main"]
