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

Since the plugin registers its own weights-only loader for local files
(:mod:`hemnet_mmseg.checkpoint.loader`), which strips the stored
config before any hook sees it, this hook is a second line for checkpoints
that reach a Runner by another loader (a remote scheme). Covered: every
Runner built from a config that lists this hook (the plugin's
``_base_/default_runtime.py`` does, and the plugin's tools add it to any
config), mmseg's own ``tools/train.py`` included. Not covered:
MMEngine's ``FlexibleRunner`` and the inferencers built from a checkpoint
alone (``MMSegInferencer(model=None, weights=...)``), which execute the
config stored in the checkpoint by design; give them a config instead.
"""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...checkpoint.loader import strip_stored_config


@HOOKS.register_module()
class SafeResumeHook(Hook):
    """Replace the config text stored in a loaded checkpoint by its
    ``gpu_ids`` literal, so that ``Runner.resume`` executes nothing."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        strip_stored_config(checkpoint)
