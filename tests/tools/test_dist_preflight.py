"""tools/dist_preflight.py: a busy port and too many processes fail in one line before torchrun."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
from tst_testing import ROOT


def _load_preflight():
    spec = importlib.util.spec_from_file_location(
        'dist_preflight', osp.join(ROOT, 'tools/dist_preflight.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


preflight = _load_preflight()


@pytest.fixture
def busy_port():
    """A port some other process (here: this one) is listening on."""
    with socket.socket() as sock:
        sock.bind(('', 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.mark.parametrize('nproc, devices', [(1, 0), (2, 0), (16, 0), (1, 1), (2, 2), (4, 8)])
def test_process_counts_that_can_run(nproc, devices):
    preflight.check_num_procs(nproc, devices)  # CPU-only: any count of gloo processes


@pytest.mark.parametrize('nproc, devices, message', [
    (3, 2, r'NUM_PROCS=3 but only 2 CUDA device\(s\) are visible on this node; use at most 2'),
    (2, 1, r'NUM_PROCS=2 but only 1 CUDA device'),
    (0, 0, 'NUM_PROCS must be a positive number of processes, got 0'),
    (-1, 4, 'got -1')])
def test_more_processes_than_gpus_is_refused(nproc, devices, message):
    with pytest.raises(preflight.PreflightError, match=message):
        preflight.check_num_procs(nproc, devices)


def test_free_port_passes_and_busy_port_is_named(busy_port):
    with socket.socket() as sock:
        sock.bind(('', 0))
        free = sock.getsockname()[1]
    preflight.check_port_free(free)
    with pytest.raises(preflight.PreflightError,
                       match=rf'master port {busy_port} is already in use .*PORT=\d+ bash'):
        preflight.check_port_free(busy_port)
    with pytest.raises(preflight.PreflightError, match='not a TCP port'):
        preflight.check_port_free(70000)


def _launch(script, *args, port):
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1',
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    return subprocess.run(['bash', script, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize('script, args', [
    ('tools/dist_train.sh', ('configs/demo/tst_fashion-mnist.py', '1')),
    ('tools/dist_test.sh', ('configs/demo/tst_fashion-mnist.py', 'missing.pth', '1'))])
def test_scripts_stop_on_a_busy_port_before_torchrun(busy_port, script, args):
    # one process: on a machine with one GPU the device check would fire first
    proc = _launch(script, *args, port=busy_port)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no torchrun traceback
    assert lines[0].startswith(f'error: master port {busy_port} is already in use')
    assert f'bash {script}' in lines[0]


def test_scripts_reject_a_non_numeric_process_count():
    proc = _launch('tools/dist_train.sh', 'configs/demo/tst_fashion-mnist.py', 'two',
                   port=29500)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "error: NUM_PROCS and PORT must be integers, got NUM_PROCS='two' PORT='29500'"]
