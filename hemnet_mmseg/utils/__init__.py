"""What the rest of the plugin leans on, with no dependency on it: errors
for the user, atomic writes, configs and the ``hemnet_mmseg`` scope."""
from .config import load_config, replace_syncbn
from .config_prefix import register_config_prefix
from .errors import UserError
from .io import atomic_write
from .set_env import register_all_modules

__all__ = [
    'load_config', 'replace_syncbn', 'register_config_prefix', 'UserError',
    'atomic_write', 'register_all_modules'
]
