"""CheckpointKeysHook: refuse to evaluate a checkpoint of another model.

``tools/test.py`` adds it (unless ``--allow-mismatched-keys``); it checks
the loaded checkpoint's keys against the model in ``after_load_checkpoint``,
before MMEngine loads them with ``strict=False``
(:func:`~hemnet_mmseg.utils.check_state_dict_keys`).
"""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...checkpoint.keys import check_state_dict_keys


@HOOKS.register_module()
class CheckpointKeysHook(Hook):
    """Raise ``UserError`` when a loaded checkpoint's keys do not match."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        check_state_dict_keys(runner.model, state,
                              runner.cfg.get('load_from') or 'checkpoint')
