"""Every config loads and builds on CPU; HEMNet/EMANet twins share a recipe;
metafiles, model index and README name only configs that exist."""
import glob
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config
from mmseg.registry import DATASETS, MODELS

import hemnet_mmseg  # noqa: F401
from hemnet_mmseg.models.layers import SETTINGS
from hemnet_mmseg.utils import replace_syncbn

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
#: the HEM unit's own settings (EMAHead has num_stages and momentum too)
HEMNET_ONLY = set(SETTINGS) - {'num_stages'}
#: EMANet heads: mmseg's own, and its float32-EM variant (CPU recipes)
EMANET_HEADS = ('EMAHead', 'Float32EMAHead')
#: mmseg 1.x file names: {algo}_{backbone}_{gpus}xb{batch}-{iters}_{data}
#: (a suffix such as _from-zoo names a variant of the same recipe)
NAME = re.compile(
    r'[a-z]+_r\d+-d8_\d+xb\d+-\d+k?_[a-z0-9-]+-\d+x\d+(_[a-z0-9-]+)?\.py$')


def _rel(path):
    return osp.relpath(path, REPO)


DATASET_TOKENS = ('cityscapes-512x1024', 'cityscapes-769x769', '80k_ade20k',
                  '160k_ade20k', '20k_voc12aug', '40k_voc12aug',
                  '40k_pascal-context-59', '80k_pascal-context-59',
                  '80k_coco-stuff164k', '20k_camvid-360x480',
                  '600_camvid-160x192', '1600_camvid-160x192', 'toy-shapes')


def _missing_dataset_configs(names):
    """(algo, data set) pairs with no config whose name has both."""
    return [(algo, token) for token in DATASET_TOKENS
            for algo in ('hemnet', 'emanet')
            if not any(n.startswith(f'{algo}_') and token in n for n in names)]


def test_there_are_configs_for_every_dataset():
    names = [osp.basename(p) for p in CONFIGS]
    assert _missing_dataset_configs(names) == []
    # the check can fail: without the HEMNet ADE20K 160k config
    assert _missing_dataset_configs([
        n for n in names if n != 'hemnet_r50-d8_4xb4-160k_ade20k-512x512.py'
        and n != 'hemnet_r101-d8_4xb4-160k_ade20k-512x512.py'
    ]) == [('hemnet', '160k_ade20k')]
    for algo in ('hemnet', 'emanet'):
        for backbone in ('r50', 'r101'):
            assert glob.glob(
                osp.join(REPO, 'configs', algo,
                         f'{algo}_{backbone}-d8_*cityscapes*'))


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_loads_and_model_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['hemnet_mmseg']
    model_cfg = replace_syncbn(cfg.model.to_dict())
    model_cfg['pretrained'] = None
    if 'backbone' in model_cfg:
        model_cfg['backbone'].pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    dataset = cfg.train_dataloader.dataset
    while dataset.type == 'ConcatDataset':  # VOC + SBD aug
        dataset = dataset.datasets[0]
    dataset_cls = DATASETS.get(dataset.type)
    num_classes = len(dataset_cls.METAINFO['classes'])
    assert model.decode_head.num_classes == num_classes
    if getattr(model, 'auxiliary_head', None) is not None:
        assert model.auxiliary_head.num_classes == num_classes
    name = osp.basename(path)
    if name.startswith('hemnet_'):
        assert type(model.decode_head).__name__ == 'HEMHead'
    elif name.startswith('emanet_'):
        assert type(model.decode_head).__name__ in EMANET_HEADS
    m = re.match(r'(hemnet|emanet)_r(\d+)-d8_', name)
    if m:
        assert cfg.model.backbone.depth == int(m.group(2))
    # user-facing configs keep the real pretrained names
    # (a fine-tune from a checkpoint, load_from, needs no ImageNet weights)
    if m and 'toy' not in name and int(m.group(2)) >= 50 and \
            '160x192' not in name and not cfg.get('load_from'):
        scheme, _, weights = cfg.model.pretrained.partition('://')
        assert scheme == 'open-mmlab' and weights.startswith('resnet')


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_file_name_follows_mmseg(path):
    name = osp.basename(path)
    if name.startswith(('hemnet_', 'emanet_', 'pointwise_')):
        assert NAME.match(name) or name.startswith('pointwise_'), name


def test_file_name_check_can_fail():
    assert not NAME.match('hemnet_r50_cityscapes.py')
    assert not NAME.match('hemnet_r50-d8_4xb2_80k_cityscapes-512x1024.py')


def _strip_head(cfg):
    d = cfg.to_dict()
    d.pop('filename', None)
    head = d['model']['decode_head']
    head.pop('type')
    for key in HEMNET_ONLY:
        head.pop(key, None)
    return d


HEMNET_CONFIGS = [p for p in CONFIGS if osp.basename(p).startswith('hemnet_')]


def _cpu_recipes_fast(paths):
    """The CPU recipes (R18-D8) in the fast loop, the GPU configs slow."""
    return [
        pytest.param(p, marks=() if '_r18-' in p else pytest.mark.slow)
        for p in paths
    ]


@pytest.mark.parametrize('path', _cpu_recipes_fast(HEMNET_CONFIGS), ids=_rel)
def test_every_hemnet_config_has_an_identical_recipe_emanet_twin(path):
    twin = path.replace(
        osp.join('configs', 'hemnet', 'hemnet_'),
        osp.join('configs', 'emanet', 'emanet_'))
    assert osp.isfile(twin), f'no EMANet twin for {_rel(path)}'
    hem, ema = Config.fromfile(path), Config.fromfile(twin)
    assert hem.model.decode_head.type == 'HEMHead'
    assert ema.model.decode_head.type in EMANET_HEADS
    assert _strip_head(hem) == _strip_head(ema)


def _metafile_configs():
    names = []
    index = yaml.safe_load(open(osp.join(REPO, 'model-index.yml')))
    for meta in index['Import']:
        assert osp.isfile(osp.join(REPO, meta)), meta
        for model in yaml.safe_load(open(osp.join(REPO, meta)))['Models']:
            names.append(model['Config'])
    return names


def test_metafiles_name_existing_configs_and_cover_all():
    named = _metafile_configs()
    for cfg in named:
        assert osp.isfile(osp.join(REPO, cfg)), f'metafile names {cfg}'
    listed = set(named)
    for path in CONFIGS:
        if osp.basename(path).startswith(('hemnet_', 'emanet_')):
            assert _rel(path) in listed, f'{_rel(path)} not in a metafile'


def test_readme_names_existing_configs():
    text = open(osp.join(REPO, 'README.md')).read()
    named = set(re.findall(r'(?<![\w/])configs/[\w./-]+\.py', text))
    # downstream examples: hemnet_mmseg::hemnet/<config>.py
    named |= {
        f'configs/{p}'
        for p in re.findall(r'hemnet_mmseg::([\w./-]+\.py)', text)
    }
    assert named, 'the README names no config'
    for cfg in named:
        assert osp.isfile(osp.join(REPO, cfg)), f'README names {cfg}'


def test_learned_bases_are_excluded_from_weight_decay():
    """The 1600-iteration CamVid configs give learned mu(0) no weight decay
    (decay on a unit-normalised parameter only inflates its learning rate);
    every other parameter keeps the config's decay."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    name = 'hemnet_r18-d8_1xb8-1600_camvid-160x192.py'
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'hemnet', name))
    init_default_scope('mmseg')
    model_cfg = replace_syncbn(cfg.model.to_dict())
    model_cfg['decode_head']['learn_bases'] = True
    model = MODELS.build(model_cfg)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    bases = model.decode_head.ema_module.bases
    decay = {
        id(p): g['weight_decay']
        for g in optimizer.param_groups
        for p in g['params']
    }
    assert decay[id(bases)] == 0
    conv = model.decode_head.conv_seg.weight
    assert decay[id(conv)] == cfg.optim_wrapper.optimizer.weight_decay > 0
