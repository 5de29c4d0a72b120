"""Helpers shared by the test modules (on sys.path through ``pythonpath = tests``)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

__all__ = ['ROOT', 'run_tool', 'run_tool_expecting_failure']


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='2')


def run_tool(*args: str, timeout: int = 900, cwd: str = ROOT) -> subprocess.CompletedProcess:
    """Run a python tool of the repo in a fresh process; fail the test with its output."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                    f'{proc.stderr[-6000:]}')
    return proc


def run_tool_expecting_failure(*args: str, timeout: int = 300) -> str:
    """Run a tool that must fail; return the last line of its stderr."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode != 0, f'{args} succeeded but should have failed'
    return proc.stderr.strip().splitlines()[-1]
