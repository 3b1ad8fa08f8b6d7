"""``python -m tarf …`` and the ``tarf`` console script (see tarf.cli)."""

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
