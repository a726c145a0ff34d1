"""A shortened `make stress`: three SIGKILLs during a real sweep, then the full consistency check."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_three_kills_lose_and_double_nothing():
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "stress.py"), "--kills", "3"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "configurations finished exactly once: 12/12" in lines
    assert {"duplicates: 0", "lost runs: 0", "bad weights files: 0", "integrity_check: ok", "PASS"} <= set(lines)
    assert "3 kills" in lines[0]
