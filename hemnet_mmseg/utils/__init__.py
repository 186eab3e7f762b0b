from .checkpoint_files import (atomic_write_text, check_checkpoint_file,
                               find_resume_checkpoint)
from .checkpoint_keys import check_state_dict_keys, state_dict_keys_mismatch
from .checkpoint_loader import (UNSAFE_LOAD_VARIABLE,
                                load_from_local_weights_only,
                                refuse_unsafe_load_variable,
                                register_checkpoint_loader)
from .config import load_config, replace_syncbn
from .config_prefix import check_mmengine_private_api, register_config_prefix
from .errors import UserError
from .safe_checkpoint import (UnsafeCheckpointError, checkpoint_getattr,
                              register_safe_globals)
from .set_env import register_all_modules

__all__ = [
    'atomic_write_text', 'check_checkpoint_file', 'find_resume_checkpoint',
    'check_state_dict_keys', 'state_dict_keys_mismatch', 'load_config',
    'replace_syncbn', 'check_mmengine_private_api', 'register_config_prefix',
    'UserError', 'UnsafeCheckpointError', 'register_all_modules',
    'checkpoint_getattr', 'register_safe_globals', 'UNSAFE_LOAD_VARIABLE',
    'load_from_local_weights_only', 'refuse_unsafe_load_variable',
    'register_checkpoint_loader'
]
