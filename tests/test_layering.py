"""The package's layers point one way (issue 34): read from the source, every
import counted, function-level ones included, and the sub-package
``__init__`` files an import runs counted as imported too. One exception:
the imports inside ``register_all_modules``, the registration entry point
MMEngine calls for the ``hemnet_mmseg`` scope, whose purpose is to import
every module with a registry entry."""
import ast
import os.path as osp
from glob import glob
from typing import Dict, Set

import pytest

PACKAGE = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'hemnet_mmseg')


def _module(path: str) -> str:
    rel = osp.relpath(path, osp.dirname(PACKAGE))[:-3].replace(osp.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def _parents(name: str) -> Set[str]:
    """The packages importing ``name`` runs, the top one excepted (the
    entry point every import of the plugin runs first)."""
    parts = name.split('.')
    return {'.'.join(parts[:i]) for i in range(2, len(parts))}


def import_graph() -> Dict[str, Set[str]]:
    """module -> the plugin modules it imports (and their packages)."""
    modules = {
        _module(p): p
        for p in glob(osp.join(PACKAGE, '**', '*.py'), recursive=True)
        if '.mim' not in p
    }
    graph = {}
    for name, path in modules.items():
        package = name if path.endswith('__init__.py') else \
            name.rsplit('.', 1)[0]
        edges = set()
        tree = ast.parse(open(path).read())
        skip = {
            id(n)
            for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
            and f.name == 'register_all_modules' for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    base = '.'.join(
                        package.split('.')[:len(package.split('.')) -
                                           node.level + 1] +
                        ([base] if base else []))
                targets = [base] + [f'{base}.{a.name}' for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target in modules:
                    edges |= {target} | _parents(target)
        graph[name] = edges - {name} - _parents(name)
    return graph


GRAPH = import_graph()


def _reach(start: str) -> Set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_graph_is_read():
    assert 'hemnet_mmseg.models.layers.em_settings' in GRAPH[
        'hemnet_mmseg.models.layers.hem_module']


@pytest.mark.parametrize('name', sorted(GRAPH))
def test_no_import_cycle(name):
    """precision_probe and autocast_optim_wrapper imported each other
    (function-level imports hid it)."""
    cycle = name in _reach(name)
    assert not cycle, f'{name} imports itself through {sorted(_reach(name))}'


def test_no_production_module_imports_the_analysis_package():
    """precision_probe imported hemnet_mmseg.analysis.timing."""
    offenders = {
        name:
        sorted(e for e in edges if e.startswith('hemnet_mmseg.analysis'))
        for name, edges in GRAPH.items()
        if not name.startswith('hemnet_mmseg.analysis')
    }
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize('package',
                         ['hemnet_mmseg.datasets', 'hemnet_mmseg.utils'])
def test_datasets_and_utils_do_not_load_the_checkpoint_stack(package):
    """datasets/ loaded the whole checkpoint-hardening stack through
    utils/__init__.py just to get an error class."""
    for name in GRAPH:
        if name == package or name.startswith(package + '.'):
            assert not {
                m
                for m in _reach(name)
                if m.startswith('hemnet_mmseg.checkpoint')
            }, name
