"""The fault tests' memory measure (faultutil.measure): a run's own peak, not that of the
process that started it. No engine needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

# A process that has touched 300 MB (and freed it) starts a small one that holds 50 MB
# for a moment, and measures it as the fault tests measure pytest --shipready.
SPAWNER = f"""
import subprocess, sys
sys.path.insert(0, {str(TESTS)!r})
import faultutil
big = b"x" * 300_000_000
del big
child = "import subprocess, sys, time; held = b'y' * 50_000_000; time.sleep(0.5); " \\
        "subprocess.run([sys.executable, '-c', 'import time; b = b\\"z\\" * 80_000_000; " \\
        "time.sleep(0.5)'])"
code, peak = faultutil.measure(subprocess.Popen([sys.executable, "-c", child]), 30)
print(code, peak.own_kb, peak.child_kb, peak.wait4_kb)
"""


def test_the_peak_is_the_run_s_own_not_its_starter_s() -> None:
    out = subprocess.run([sys.executable, "-c", SPAWNER], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    code, own, child, wait4 = (int(x) for x in out.stdout.split())
    assert code == 0
    # Its own 50 MB, seen; not the starter's 300 MB, which wait4's ru_maxrss reports
    # (exec keeps the high-water mark of the vfork'ed address space it replaces).
    assert 50_000 < own < 150_000, (own, wait4)
    # Its child's own 80 MB: the child's ru_maxrss would be the measured process's peak.
    assert 80_000 < child < 150_000, (child, wait4)
    print(f"own {own} kB, child {child} kB, wait4 ru_maxrss {wait4} kB")
