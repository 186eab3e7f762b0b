"""Reading configs for the tools: clear errors, and CPU-friendly norms."""
import ast
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .errors import UserError


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it.

    Raises:
        UserError: the file is missing, or it (or one of its bases) is not
            valid Python; the message names the file and the line.
    """
    if not osp.isfile(path):
        raise UserError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        # MMEngine parses without a file name: find the file that is broken
        found = find_syntax_error(path) or err
        where = found.filename if found is not err else path
        raise UserError(f'config {where} line {found.lineno}: syntax error: '
                        f'{found.msg}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def literal_assignment(tree: ast.Module, name: str):
    """The value of the first top-level ``name = <literal>`` of a parsed
    Python file, read with :func:`ast.literal_eval` (nothing executed).

    Raises:
        LookupError: no top-level assignment to ``name``.
        ValueError: the assigned value is not a literal.
    """
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name
                for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except SyntaxError as err:  # pragma: no cover (malformed AST)
                raise ValueError(str(err)) from err
    raise LookupError(name)


def _local_bases(tree: ast.Module, path: str) -> list:
    """Paths of a config's ``_base_`` files on disk (``pkg::`` skipped)."""
    try:
        bases = literal_assignment(tree, '_base_')
    except (LookupError, ValueError):
        return []
    bases = [bases] if isinstance(bases, str) else list(bases)
    return [
        osp.normpath(osp.join(osp.dirname(path), b)) for b in bases
        if isinstance(b, str) and '::' not in b
    ]


def find_syntax_error(path: str,
                      seen: Optional[set] = None) -> Optional[SyntaxError]:
    """The first syntax error in a config or its ``_base_`` files, with the
    file name set, or None."""
    seen = set() if seen is None else seen
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as err:
        return err
    for base in _local_bases(tree, path):
        err = find_syntax_error(base, seen)
        if err is not None:
            return err
    return None


def replace_syncbn(cfg):
    """SyncBN -> BN everywhere in a (nested) config: SyncBN needs CUDA."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'type' and value == 'SyncBN':
                cfg[key] = 'BN'
            else:
                replace_syncbn(value)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            replace_syncbn(item)
    return cfg
