"""ConfigChangeHook: resuming under another model or schedule says so.

``--resume`` picks up a checkpoint whatever config it was trained with: a
run resumed with another learning rate, number of iterations or EM setting
trains on without a word, and its log then describes neither config. The
config MMEngine stores in a checkpoint is Python text that the plugin's
loader never executes (:mod:`hemnet_mmseg.checkpoint.loader`), so
this hook stores its own record: the training-relevant sections of the
config (:data:`SECTIONS`), flattened to dotted keys and written as JSON
into ``checkpoint['meta']['train_config']``. On resume it compares that
record with the current config and logs one warning that lists what
changed (``key: stored -> current``). Loading weights to fine-tune
(``load_from`` without ``resume``) is not a resume and is not compared.

A resume whose optimizer state no longer fits what the model trains (a
change of ``learn_bases``) stops with one line instead of the optimizer's
traceback.

The record comes from a file, so it is treated as untrusted: anything but a
JSON object of string keys is ignored with one warning, and every key and
value is printed escaped and cut short (:func:`~hemnet_mmseg.utils.errors.
printable`), so that a crafted checkpoint cannot write to the terminal or
forge log lines.
"""
import json
import logging
from typing import Any, Dict, List

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmseg.registry import HOOKS

from ...utils.errors import UserError, printable

#: the config sections that decide what a resumed run trains
SECTIONS = ('model', 'train_cfg', 'optim_wrapper', 'param_scheduler',
            'randomness')

#: the key under ``checkpoint['meta']``
META_KEY = 'train_config'


def _flatten(value: Any, prefix: str, out: Dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _flatten(value[key], f'{prefix}.{key}' if prefix else str(key),
                     out)
    elif isinstance(value, (list, tuple)) and any(
            isinstance(v, (dict, list, tuple)) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f'{prefix}.{i}', out)
    else:
        # through JSON, so that a tuple and the list it is stored as compare
        # equal and anything else is compared by its text
        out[prefix] = json.loads(json.dumps(value, default=repr))


def train_config_record(cfg) -> Dict[str, Any]:
    """The :data:`SECTIONS` of ``cfg``, flattened to dotted keys.

    Args:
        cfg: an MMEngine ``Config`` (or a dict).

    Returns:
        ``{'train_cfg.max_iters': 1600, 'model.decode_head.step_size':
        0.5, ...}`` with JSON values.
    """
    out: Dict[str, Any] = {}
    for section in SECTIONS:
        value = cfg.get(section, None)
        if value is not None:
            _flatten(value.to_dict() if hasattr(value, 'to_dict') else value,
                     section, out)
    return out


def config_changes(stored: Dict[str, Any], current: Dict[str, Any]) -> List:
    """``[(key, stored value, current value), ...]`` for every key whose
    value differs or that only one side has (``'<absent>'``), sorted."""
    missing = '<absent>'
    keys = sorted(set(stored) | set(current))
    return [(k, stored.get(k, missing), current.get(k, missing)) for k in keys
            if stored.get(k, missing) != current.get(k, missing)]


def check_optimizer_groups(runner, checkpoint: dict) -> None:
    """The optimizer state of ``checkpoint`` holds as many parameters per
    group as the model now trains; MMEngine would stop with a traceback
    from ``Optimizer.load_state_dict`` otherwise.

    Raises:
        UserError: naming the counts (a change of ``learn_bases``, or of
            ``grad_mode`` to or from ``'none'``, which freezes the mid conv,
            changes what trains).
    """
    wrapper = getattr(runner, 'optim_wrapper', None)
    state = checkpoint.get('optimizer')
    if not isinstance(wrapper, OptimWrapper) or not isinstance(state, dict):
        return
    stored = [
        len(g['params'])
        if isinstance(g, dict) and isinstance(g.get('params'), list) else -1
        for g in state.get('param_groups', ())
    ]
    current = [len(g['params']) for g in wrapper.optimizer.param_groups]
    if stored != current:
        raise UserError(
            f'cannot resume from {runner.cfg.get("load_from")}: its optimizer '
            f'state holds {sum(stored)} parameters in {len(stored)} group(s) '
            f'{stored}, the model now trains {sum(current)} in '
            f'{len(current)} {current}; what trains changed (learn_bases, '
            'grad_mode to or from none, ...): start a new run, loading the '
            'weights with load_from instead of --resume')


@HOOKS.register_module()
class ConfigChangeHook(Hook):
    """Store the training config's record in every checkpoint; warn on
    resume when the current config differs from it.

    Args:
        max_listed (int): how many changed keys the warning lists before
            "and N more". Defaults to 8.
    """

    priority = 'VERY_LOW'

    def __init__(self, max_listed: int = 8) -> None:
        self.max_listed = max_listed

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[META_KEY] = json.dumps(
            train_config_record(runner.cfg), sort_keys=True)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner.cfg.get('resume', False):
            return
        self.warn_changes(runner, checkpoint)
        check_optimizer_groups(runner, checkpoint)

    def warn_changes(self, runner, checkpoint: dict) -> None:
        """One warning listing what the current config changed."""
        meta = checkpoint.get('meta')
        stored = meta.get(META_KEY) if isinstance(meta, dict) else None
        if stored is None:
            return  # written before this hook existed, or by another tool
        try:
            stored = json.loads(stored) if isinstance(stored, str) else None
        except (ValueError, RecursionError):
            stored = None
        if not isinstance(stored, dict) or not all(
                isinstance(k, str) for k in stored):
            print_log(
                f'resuming from {runner.cfg.get("load_from")}: its stored '
                f'{META_KEY} record is not a JSON object of settings; '
                'ignored (the resumed run trains with the current config, '
                'not compared)',
                logger='current',
                level=logging.WARNING)
            return
        changes = config_changes(stored, train_config_record(runner.cfg))
        if not changes:
            return
        listed = '; '.join(f'{printable(key)}: {printable(repr(old))} -> '
                           f'{printable(repr(new))}'
                           for key, old, new in changes[:self.max_listed])
        more = len(changes) - self.max_listed
        print_log(
            f'resuming from {runner.cfg.get("load_from")} under a config that '
            f'differs from the one it was trained with in {len(changes)} '
            f'setting(s): {listed}' +
            (f'; and {more} more' if more > 0 else '') +
            '. The resumed run trains with the current config.',
            logger='current',
            level=logging.WARNING)
