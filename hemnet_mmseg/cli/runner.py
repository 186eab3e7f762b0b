"""The plugin's hooks added to any config, and the Runner built from it."""
from mmengine.config import Config

#: the plugin's hooks that every run through its tools gets
PLUGIN_HOOKS = ('SafeResumeHook', 'RNGStateHook', 'RunRecordHook',
                'FiniteLossHook', 'ConfigChangeHook')


def add_plugin_hooks(cfg: Config) -> None:
    """Make a config safe and exact to resume, whatever its bases.

    Adds :class:`~hemnet_mmseg.engine.SafeResumeHook`,
    :class:`~hemnet_mmseg.engine.RNGStateHook`,
    :class:`~hemnet_mmseg.engine.RunRecordHook` (``run.json``),
    :class:`~hemnet_mmseg.engine.FiniteLossHook` and
    :class:`~hemnet_mmseg.engine.ConfigChangeHook` to
    ``custom_hooks`` when missing, and swaps MMEngine's ``CheckpointHook`` for
    :class:`~hemnet_mmseg.engine.AtomicCheckpointHook` (same arguments).
    """
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {h.get('type') for h in hooks}
    hooks += [dict(type=t) for t in PLUGIN_HOOKS if t not in present]
    cfg.custom_hooks = hooks
    checkpoint = (cfg.get('default_hooks', None) or {}).get('checkpoint')
    if checkpoint and checkpoint.get('type') in ('CheckpointHook',
                                                 'mmengine.CheckpointHook'):
        checkpoint['type'] = 'AtomicCheckpointHook'


def build_runner(cfg: Config):
    """MMEngine's Runner, or the config's ``runner_type`` when it has one."""
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)
