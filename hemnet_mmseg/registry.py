"""Registries of hemnet_mmseg: children of MMSegmentation's.

A config loaded through ``hemnet_mmseg::...`` gets ``_scope_='hemnet_mmseg'``
on every dict with a ``type``; MMEngine then looks for a registry of that
scope for each kind (model, dataset, hook, ...). Each one here is a child of
mmseg's registry of the same kind, so anything registered in mmseg (or in
MMEngine) is found from this scope too. hemnet_mmseg registers its own
modules in mmseg's registries, so that plain ``mmseg`` configs find them.
"""
from mmengine.registry import Registry
from mmseg import registry as mmseg_registry

_LOCATIONS = {
    'MODELS': ['hemnet_mmseg.models'],
    'DATASETS': ['hemnet_mmseg.datasets'],
    'HOOKS': ['hemnet_mmseg.engine'],
    'OPTIM_WRAPPERS': ['hemnet_mmseg.engine'],
}


def _child(name: str) -> Registry:
    parent = getattr(mmseg_registry, name)
    return Registry(
        parent.name,
        parent=parent,
        scope='hemnet_mmseg',
        locations=_LOCATIONS.get(name, []))


RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
HOOKS = _child('HOOKS')
DATASETS = _child('DATASETS')
DATA_SAMPLERS = _child('DATA_SAMPLERS')
TRANSFORMS = _child('TRANSFORMS')
MODELS = _child('MODELS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
METRICS = _child('METRICS')
EVALUATOR = _child('EVALUATOR')
TASK_UTILS = _child('TASK_UTILS')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
INFERENCERS = _child('INFERENCERS')
