"""SafeResumeHook: resuming from a checkpoint runs no code stored in it.

MMEngine's ``Runner.resume`` parses ``checkpoint['meta']['config']`` with
``Config.fromstring(..., file_format='.py')``, which *executes* the text,
only to read ``gpu_ids`` from it. A checkpoint made only of tensors and
strings passes torch's weights-only loader, so a crafted ``meta.config``
would run on ``--resume``. This hook runs in ``after_load_checkpoint``,
before ``resume`` reads the config, and replaces the stored text by the one
assignment that ``resume`` needs, ``gpu_ids = [...]``, read with
:func:`ast.literal_eval` (nothing is executed); without such a literal the
key is dropped.

Covered: every Runner built from a config that lists this hook (the
plugin's ``_base_/default_runtime.py`` does, and the plugin's tools add it
to any config), mmseg's own ``tools/train.py`` included. Not covered:
MMEngine's ``FlexibleRunner`` and the inferencers built from a checkpoint
alone (``MMSegInferencer(model=None, weights=...)``), which execute the
config stored in the checkpoint by design; give them a config instead.
"""
import ast
from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...utils.config import literal_assignment


def literal_gpu_ids(config_text: str) -> Optional[list]:
    """``gpu_ids`` of a stored config, read without executing anything.

    Args:
        config_text (str): the Python text of a dumped MMEngine config.

    Returns:
        list[int] | None: the top-level ``gpu_ids = [...]`` literal, or None
        when the text has none, is not Python, or holds something else.
    """
    try:
        value = literal_assignment(ast.parse(config_text), 'gpu_ids')
    except (SyntaxError, ValueError, LookupError):
        return None
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


@HOOKS.register_module()
class SafeResumeHook(Hook):
    """Replace the config text stored in a loaded checkpoint by its
    ``gpu_ids`` literal, so that ``Runner.resume`` executes nothing."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta')
        if not isinstance(meta, dict) or 'config' not in meta:
            return
        text = meta.pop('config')
        gpu_ids = literal_gpu_ids(text) if isinstance(text, str) else None
        if gpu_ids is not None:
            meta['config'] = f'gpu_ids = {gpu_ids!r}\n'
