"""No two modules of ``tst_mm`` import each other, directly or around a longer circle.

Every import statement counts, at module level or inside a function: a function-level import
that closes a circle only moves the failure to the first call. ``from package import name``
is followed through the package's ``__init__`` to the module that defines ``name``.
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Optional, Set

from tst_testing import ROOT

PACKAGE = 'tst_mm'


def _modules() -> Dict[str, str]:
    """Dotted module name -> file, packages named by their folder."""
    found = {}
    for folder, _, files in os.walk(osp.join(ROOT, PACKAGE)):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                parts = osp.relpath(path, ROOT)[:-3].split(os.sep)
                found['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].endswith('__init__.py')


def _imports(module: str) -> List[ast.stmt]:
    with open(MODULES[module], encoding='utf-8') as f:
        tree = ast.parse(f.read())
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _source(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ''
    parts = module.split('.') if _is_package(module) else module.split('.')[:-1]
    parts = parts[:len(parts) - node.level + 1]
    return '.'.join(parts + ([node.module] if node.module else []))


def _provider(package: str, name: str, seen: Set[str]) -> Optional[str]:
    """The module of ``package`` that ``from package import name`` ends up reading."""
    if f'{package}.{name}' in MODULES:
        return f'{package}.{name}'
    seen = seen | {package}
    for node in _imports(package):
        if isinstance(node, ast.ImportFrom) and any(
                (alias.asname or alias.name) == name for alias in node.names):
            source = _source(package, node)
            if source in MODULES and _is_package(source) and source not in seen:
                return _provider(source, name, seen)
            return source if source in MODULES else None
    return None


def _graph() -> Dict[str, Set[str]]:
    """Module -> the modules (not packages) of ``tst_mm`` it imports from."""
    graph = {}
    for module in MODULES:
        if _is_package(module):
            continue
        targets = set()
        for node in _imports(module):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            source = _source(module, node)
            if source in MODULES and _is_package(source):
                targets.update(_provider(source, alias.name, set()) for alias in node.names)
            else:
                targets.add(source)
        graph[module] = {t for t in targets if t in MODULES and not _is_package(t)} - {module}
    return graph


def _circle_through(graph: Dict[str, Set[str]], start: str) -> Optional[List[str]]:
    """A path ``start -> ... -> start`` in ``graph``, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in sorted(graph.get(module, ())):
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_the_graph_sees_known_edges():
    graph = _graph()
    # relative, absolute and through a package's __init__
    assert 'tst_mm.errors' in graph['tst_mm.distill.model_config']
    assert 'tst_mm.registry' in graph['tst_mm.distill.tst_distiller']
    assert 'tst_mm.utils.unwrap' in graph['tst_mm.utils.checkpoint_checks']


def test_no_import_circles():
    graph = _graph()
    circles = [path for path in map(lambda m: _circle_through(graph, m), sorted(graph)) if path]
    assert circles == [], ' | '.join(' -> '.join(path) for path in circles)


def test_utils_import_no_distill():
    """``tst_mm.utils`` is a lower floor: it imports ``tst_mm.errors`` and itself, never the
    distiller's package (nor anything else of tst_mm); launching a config, which needs the
    distiller's model configs, is ``tst_mm.launch``."""
    graph = _graph()
    upward = {module: sorted(target for target in targets
                             if not target.startswith('tst_mm.utils.')
                             and target != 'tst_mm.errors')
              for module, targets in graph.items() if module.startswith('tst_mm.utils.')}
    assert 'tst_mm.utils.checkpoint_checks' in upward  # the utils modules were found
    assert not any(target.startswith('tst_mm.distill') for targets in upward.values()
                   for target in targets), upward
    assert {module: targets for module, targets in upward.items() if targets} == {}
