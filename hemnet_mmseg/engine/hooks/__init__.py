from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_keys_hook import CheckpointKeysHook
from .config_change_hook import ConfigChangeHook
from .finite_loss_hook import FiniteLossHook
from .rng_state_hook import RNGStateHook
from .run_record_hook import (RunRecordHook, describe_decode_head,
                              describe_precision)
from .safe_resume_hook import SafeResumeHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointKeysHook', 'ConfigChangeHook',
    'FiniteLossHook', 'RNGStateHook', 'RunRecordHook', 'SafeResumeHook',
    'describe_decode_head', 'describe_precision'
]
