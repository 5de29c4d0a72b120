"""Checks ``tools/dist_*.sh`` run before ``torchrun``, so bad input fails in one line.

    python tools/dist_preflight.py --nproc 2 --port 29500 [--node-rank 0] [--script NAME]

- The master port must be free on the master node (``NODE_RANK=0``); other nodes connect to
  it, so they do not check it. The message names the port and how to pick another.
- With CUDA present, one process drives one GPU, so ``NUM_PROCS`` may not exceed the visible
  CUDA devices. Without CUDA (or with ``CUDA_VISIBLE_DEVICES=-1``) the processes train on CPU
  over gloo and any positive count is allowed: each is a CPU worker, and several per machine
  are how the gloo tests and the CPU throughput benchmark run.

Kept free of tst_mm / OpenMMLab imports so that it costs only torch's import time.
"""
import argparse
import errno
import socket
import sys
from typing import Optional

__all__ = ['PreflightError', 'check_num_procs', 'check_port_free', 'main']


class PreflightError(ValueError):
    """A launch that cannot work; the message says what to change."""


def check_num_procs(nproc: int, cuda_devices: int) -> None:
    """Check the number of processes per node against the CUDA devices visible.

    Args:
        nproc: Processes per node asked for (``NUM_PROCS`` of ``tools/dist_*.sh``).
        cuda_devices: CUDA devices visible to this node (0 on a CPU-only machine).

    Raises:
        PreflightError: If ``nproc`` is below 1, or CUDA is present and ``nproc`` exceeds
            the visible devices.
    """
    if nproc < 1:
        raise PreflightError(f'NUM_PROCS must be a positive number of processes, got {nproc}')
    if cuda_devices > 0 and nproc > cuda_devices:
        raise PreflightError(
            f'NUM_PROCS={nproc} but only {cuda_devices} CUDA device(s) are visible on this '
            f'node; use at most {cuda_devices} (one process per GPU), or hide CUDA with '
            'CUDA_VISIBLE_DEVICES=-1 to run gloo processes on CPU')


def check_port_free(port: int, host: str = '', script: str = 'tools/dist_train.sh') -> None:
    """Check that the master port can be bound on this machine.

    Args:
        port: The master port (``PORT`` of ``tools/dist_*.sh``).
        host: Interface to bind; ``''`` means all, as torchrun's store does.
        script: The launcher script, named in the message.

    Raises:
        PreflightError: If the port is outside 1..65535 or already in use.
    """
    if not 0 < port < 65536:
        raise PreflightError(f'PORT={port} is not a TCP port number (1-65535)')
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            reason = 'already in use' if err.errno == errno.EADDRINUSE else 'not allowed'
            raise PreflightError(
                f'master port {port} is {reason} (another torchrun job?); choose another, '
                f'e.g. PORT={_suggest_port(port)} bash {script} ...') from None


def _suggest_port(busy: int) -> int:
    """A currently free port near ``busy`` to put in the message."""
    for port in range(busy + 1, min(busy + 100, 65535)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(('', port))
            except OSError:
                continue
            return port
    return 29500 + (busy % 1000) + 1


def _cuda_devices() -> int:
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def main(argv: Optional[list] = None) -> None:
    """Run the checks; exit with ``error: <one line>`` on the first failure."""
    parser = argparse.ArgumentParser(description='Checks before a torchrun launch')
    parser.add_argument('--nproc', required=True, help='processes per node')
    parser.add_argument('--port', required=True, help='master port')
    parser.add_argument('--node-rank', type=int, default=0)
    parser.add_argument('--script', default='tools/dist_train.sh', help='named in messages')
    args = parser.parse_args(argv)
    try:
        try:
            nproc, port = int(args.nproc), int(args.port)
        except ValueError:
            raise PreflightError(f'NUM_PROCS and PORT must be integers, got NUM_PROCS='
                                 f'{args.nproc!r} PORT={args.port!r}') from None
        check_num_procs(nproc, _cuda_devices())
        if args.node_rank == 0:
            check_port_free(port, script=args.script)
    except PreflightError as err:
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
