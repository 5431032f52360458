"""Processes: whether one is still alive (cleaning up after workers that died: metrics files),
and stopping a child politely, then for sure."""

from __future__ import annotations

import os
import subprocess

__all__ = ["is_running", "stop_child"]


def is_running(pid: int) -> bool:
    """True while `pid` exists (signal 0 checks without signalling), also if someone else owns it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_child(process: subprocess.Popen[bytes], grace_seconds: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace_seconds`; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace_seconds)
