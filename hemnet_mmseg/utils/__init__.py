from .config_prefix import check_mmengine_private_api, register_config_prefix
from .safe_checkpoint import (
    UnsafeCheckpointError,
    checkpoint_getattr,
    register_safe_globals,
)
from .set_env import register_all_modules

__all__ = [
    'check_mmengine_private_api', 'register_config_prefix',
    'UnsafeCheckpointError', 'register_all_modules', 'checkpoint_getattr',
    'register_safe_globals'
]
