#!/usr/bin/env python
"""What a change to config files changed in the configs as loaded: for a refactor of configs
that must leave every run as it was.

    python tools/config_diff.py HEAD~1                        # configs/tst/*.py
    python tools/config_diff.py HEAD~1 configs/demo/tst_pspnet_scenes.py

Loads each config as of git revision REV (its ``configs/`` folder, taken with ``git archive``)
and as in the working tree, compares ``Config.to_dict()`` and prints every difference. A key
that is gone is checked against the constructor of the ``type`` it configured (from the tst_mm
registries): it may go only where the constructor gives it the same value. Exits 1 when a
difference is neither such a key nor an added key named by ``--allow-added``.
"""
import argparse
import glob
import inspect
import os.path as osp
import subprocess
import sys
import tempfile
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from tst_mm import registry  # noqa: E402

#: Arguments whose signature default is None and that the constructor fills in: removing the
#: key is no change when the config gave exactly this (``TSTDistiller.__init__``).
FILLED_IN = {('tst_mm.TSTDistiller', 'search_loss_weights'): {'teacher': 1.0, 'weakness': 1.0}}
#: Registries a ``type`` of a tst-mm config part is looked up in.
REGISTRIES = (registry.MODELS, registry.LOOPS, registry.HOOKS)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('rev', help='git revision to compare against, e.g. HEAD~1')
    parser.add_argument('configs', nargs='*', help='config files (default: configs/tst/*.py)')
    parser.add_argument('--allow-added', nargs='*', default=['model_wrapper_cfg'],
                        help='top-level keys a config may gain')
    return parser.parse_args(argv)


def differences(old: Any, new: Any, path: str = '') -> Iterator[Tuple[str, str, Any, Any]]:
    """``(kind, path, old, new)`` for each place where ``new`` differs from ``old``; kind is
    ``'removed'``, ``'added'`` or ``'changed'``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                yield 'removed', f'{path}.{key}', old[key], None
            elif key not in old:
                yield 'added', f'{path}.{key}', None, new[key]
            else:
                yield from differences(old[key], new[key], f'{path}.{key}')
    elif (isinstance(old, (list, tuple)) and type(old) is type(new)
          and len(old) == len(new)):
        for index, (a, b) in enumerate(zip(old, new)):
            yield from differences(a, b, f'{path}[{index}]')
    elif type(old) is not type(new) or old != new:
        yield 'changed', path, old, new


def enclosing_type(cfg: dict, path: str) -> Optional[str]:
    """The ``type`` of the dict that holds the key at ``path`` (only dict keys on the way)."""
    parts = path.strip('.').split('.')[:-1]
    node = cfg
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node.get('type') if isinstance(node, dict) else None


def constructor_default(type_name: str, key: str) -> Tuple[bool, Any]:
    """``(found, default)`` of argument ``key`` of the class registered as ``type_name``."""
    name = type_name.split('.', 1)[-1]
    for reg in REGISTRIES:
        cls = reg.get(name)
        if cls is not None:
            param = inspect.signature(cls.__init__).parameters.get(key)
            if param is not None and param.default is not inspect.Parameter.empty:
                return True, param.default
    return False, None


def judge(kind: str, path: str, old: Any, old_cfg: dict, allow_added: List[str]) -> str:
    """'' where the difference leaves the run as it was, else why it may not."""
    if kind == 'added':
        return '' if path.strip('.') in allow_added else 'added'
    if kind == 'changed':
        return 'changed'
    type_name = enclosing_type(old_cfg, path)
    key = path.rsplit('.', 1)[-1]
    if type_name is None:
        return 'removed from a part without a type'
    if FILLED_IN.get((type_name, key)) == old:
        return ''
    found, default = constructor_default(type_name, key)
    if not found:
        return f'{type_name} has no default for {key}'
    return '' if default == old else f'{type_name} defaults {key} to {default!r}'


def rerooted(value: Any, root: str) -> Any:
    """``value`` with every string's ``root`` (a path ``{{ fileDirname }}`` made) as ROOT."""
    if isinstance(value, dict):
        return {key: rerooted(item, root) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(rerooted(item, root) for item in value)
    return value.replace(root, ROOT) if isinstance(value, str) else value


def load(path: str, root: str) -> dict:
    """The config at ``path`` as a plain dict, its paths as if ``root`` were the repository."""
    return rerooted(Config.fromfile(path, import_custom_modules=False).to_dict(), root)


def main(argv=None) -> int:
    args = parse_args(argv)
    configs = args.configs or sorted(
        osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs/tst/*.py')))
    failed = False
    with tempfile.TemporaryDirectory() as old_root:
        archive = subprocess.run(['git', 'archive', args.rev, 'configs'], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', old_root], input=archive, check=True)
        for config in configs:
            old_cfg = load(osp.join(old_root, config), old_root)
            new_cfg = load(osp.join(ROOT, config), ROOT)
            rows = list(differences(old_cfg, new_cfg))
            print(f'{config}: ' + ('same' if not rows else f'{len(rows)} differences'))
            for kind, path, old, new in rows:
                problem = judge(kind, path, old, old_cfg, args.allow_added)
                failed |= bool(problem)
                value = repr(new if kind == 'added' else old)
                verdict = f'NOT ALLOWED: {problem}' if problem else 'ok: ' + (
                    'the constructor default' if kind == 'removed' else 'allowed addition')
                print(f'  {kind} {path} = {value[:120]}  [{verdict}]')
    return int(failed)


if __name__ == '__main__':
    sys.exit(main())
