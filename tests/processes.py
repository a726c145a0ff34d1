"""Which processes still run: shared by the fault-injection tests and tests/stress.py (standard library only)."""
from pathlib import Path


def alive(pids):
    """The pids still running (a zombie has ended: it only waits to be reaped)."""
    def running(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False
    return [p for p in pids if running(p)]
