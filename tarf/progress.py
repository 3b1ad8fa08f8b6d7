"""One progress-bar switch for every long loop (docs/protocol.md#progress-bars)."""

import os

from tqdm.auto import tqdm


def enabled() -> bool:
    """Bars are on unless TARF_PROGRESS=0 or TQDM_DISABLE is set (executed notebooks stay stable)."""
    if os.environ.get("TQDM_DISABLE"):
        return False
    return os.environ.get("TARF_PROGRESS", "1") not in ("0", "false", "False", "")


def progress(iterable=None, *, enable: bool | None = None, **kw):
    """tqdm.auto with an explicit ``disable=`` so the notebook widget obeys the switch too."""
    on = enabled() if enable is None else enable
    return tqdm(iterable, disable=not on, **kw)
