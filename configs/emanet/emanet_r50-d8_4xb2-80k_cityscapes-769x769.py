# mmseg's own EMANet config, with the plugin imported like its twin.
_base_ = 'mmseg::emanet/emanet_r50-d8_4xb2-80k_cityscapes-769x769.py'
custom_imports = dict(imports=['hemnet_mmseg'], allow_failed_imports=False)
# atomic checkpoint saves: a kill during a save loses nothing
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [dict(type='SafeResumeHook'), dict(type='RNGStateHook')]
