"""MMEngine extensions of the plugin: hooks (safe and exact resuming,
atomic checkpoints, a run record) and the optimizer wrapper for mixed
precision."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
