"""The code base passes the project's lint configuration (ruff.toml: pyflakes, pycodestyle,
isort, bugbear)."""
import subprocess
import sys

from tst_testing import ROOT


def test_ruff_passes():
    proc = subprocess.run(
        [sys.executable, '-m', 'ruff', 'check', 'tst_mm', 'tools', 'tests', 'benchmarks',
         'configs', 'setup.py'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
