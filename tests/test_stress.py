"""A shortened `make stress`: one SIGKILL of a worker of a dask cluster mid-run, in a 4-run sweep, then the checks.
The other scenarios have their tests elsewhere: a killed runner or loky worker in tests/test_pipeline.py,
cooperating runners in tests/test_cluster.py, SIGTERM in tests/test_signals.py. The kill waits for events in
the store, so the machine's load cannot make it miss."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_kills_of_runners_and_workers_lose_and_double_nothing():
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "stress.py"), "--kills", "1", "--configs", "4", "--scenarios", "dask"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("kill schedule seed ")
    for name in ("dask",):
        assert any(line.startswith(f"[{name}] 1 kills") and line.endswith("final resume exit 0") for line in lines)
        assert {f"[{name}] {check}" for check in ("configurations finished exactly once: 4/4", "duplicates: 0",
                                                  "lost runs: 0", "trained twice: 0", "bad weights files: 0",
                                                  "integrity_check: ok")} <= set(lines)
    assert lines[-1] == "PASS"
