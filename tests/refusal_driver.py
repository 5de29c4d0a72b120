"""Run ``tools/train.py`` once per argument list, as ``python tools/train.py ARGS`` would, each
in a process of its own forked from this one after the imports (seconds per run instead of
the import time of torch and three toolboxes each).

    python tests/refusal_driver.py CASES.json OUT_DIR

``CASES.json`` holds a list of argument lists. Each run's stdout and stderr go to
``OUT_DIR/<i>.out`` and ``OUT_DIR/<i>.err`` (file descriptors 1 and 2 themselves, so whatever
writes there, the logger, warnings or a traceback, lands in them), and the exit codes, in
order, to ``OUT_DIR/exit_codes.json``. A run exits as the interpreter would: ``sys.exit(str)``
prints the string to stderr and exits 1; an uncaught exception prints its traceback and
exits 1. Whatever the imports print goes to this process's own stderr.
"""
import json
import os
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_train_tool():
    """``tools/train.py`` as a module, imported as running it imports it (its folder first on
    ``sys.path``)."""
    import importlib.util
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    spec = importlib.util.spec_from_file_location('train_tool', os.path.join(ROOT, 'tools',
                                                                             'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(train, args, out: str, err: str) -> int:
    """Fork; in the child run the tool with fds 1 and 2 on ``out`` and ``err``; its exit code."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    code = 1
    try:
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.argv = [os.path.join('tools', 'train.py'), *args]
        try:
            train.main(list(args))
            code = 0
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:
                print(exit_.code, file=sys.stderr)
        except BaseException:  # as the interpreter reports an uncaught exception
            traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    cases_file, out_dir = sys.argv[1:3]
    with open(cases_file) as f:
        cases = json.load(f)
    os.chdir(ROOT)
    train = _load_train_tool()
    codes = [_run(train, args, os.path.join(out_dir, f'{i}.out'),
                  os.path.join(out_dir, f'{i}.err')) for i, args in enumerate(cases)]
    with open(os.path.join(out_dir, 'exit_codes.json'), 'w') as f:
        json.dump(codes, f)


if __name__ == '__main__':
    main()
