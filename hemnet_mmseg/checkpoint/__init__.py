"""Checkpoints read safely and kept intact: the weights-only loader with a
scoped allow-list (:mod:`.loader`, :mod:`.safe_globals`), file checks and
resume candidates (:mod:`.files`), key and shape checks (:mod:`.keys`)."""
from .files import check_checkpoint_file, find_resume_checkpoint
from .keys import (check_state_dict_keys, init_model_checked,
                   state_dict_keys_mismatch)
from .loader import (UNSAFE_LOAD_VARIABLE, load_from_local_weights_only,
                     refuse_unsafe_load_variable, register_checkpoint_loader)
from .safe_globals import (UnsafeCheckpointError, checkpoint_getattr,
                           checkpoint_globals)

__all__ = [
    'check_checkpoint_file', 'find_resume_checkpoint', 'check_state_dict_keys',
    'init_model_checked', 'state_dict_keys_mismatch', 'UNSAFE_LOAD_VARIABLE',
    'load_from_local_weights_only', 'refuse_unsafe_load_variable',
    'register_checkpoint_loader', 'UnsafeCheckpointError',
    'checkpoint_getattr', 'checkpoint_globals'
]
