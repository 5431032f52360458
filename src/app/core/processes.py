"""Whether a process is still alive, for cleaning up after processes that died (metrics files)."""

from __future__ import annotations

import os

__all__ = ["is_running"]


def is_running(pid: int) -> bool:
    """True while `pid` exists (signal 0 checks without signalling), also if someone else owns it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
