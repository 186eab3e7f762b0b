"""hemnet_mmseg.cli.config_checks: bad input (issue 23, item 11) refused
before a Runner is built, with one line naming the thing and what was
expected."""
import pytest
import torch


@pytest.mark.parametrize('device,match', [
    ('bogus', 'not a device; expected cpu, cuda or cuda:N'),
    ('cuda:0', 'no CUDA device; use --device cpu'),
    ('cuda', 'no CUDA device'),
    ('meta', 'expected cpu, cuda or cuda:N'),
])
def test_check_device_on_a_machine_without_cuda(monkeypatch, device, match):
    from hemnet_mmseg.cli.config_checks import check_device
    from hemnet_mmseg.utils import UserError
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(UserError, match=match) as err:
        check_device(device)
    assert f'--device {device}' in str(err.value)
    assert check_device('cpu') == 'cpu'


def test_check_device_names_the_cuda_devices_there_are(monkeypatch):
    from hemnet_mmseg.cli.config_checks import check_device
    from hemnet_mmseg.utils import UserError
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert check_device('cuda:1') == 'cuda:1'
    with pytest.raises(UserError, match='has 2 CUDA device.*cuda:0 to cuda:1'):
        check_device('cuda:2')


TORCHRUN = dict(
    RANK='0', WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT='29500')


@pytest.mark.parametrize('where', ['itself', 'above'])
def test_work_dir_that_is_a_file_is_refused(tmp_path, where):
    from mmengine.config import Config

    from hemnet_mmseg.cli.config_checks import set_work_dir
    from hemnet_mmseg.utils import UserError
    afile = tmp_path / 'afile'
    afile.write_text('x')
    work_dir = afile if where == 'itself' else afile / 'run'
    with pytest.raises(UserError, match=f'{afile} is a file, not a folder'):
        set_work_dir(Config(dict()), 'cfg.py', str(work_dir))
    set_work_dir(Config(dict()), 'cfg.py', str(tmp_path / 'new' / 'run'))


def _segmentor_cfg(decode_classes, aux_classes, metainfo=None):
    from mmengine.config import Config
    dataset = dict(type='ToyShapesDataset', data_root='x')
    if metainfo:
        dataset['metainfo'] = metainfo
    return Config(
        dict(
            model=dict(
                decode_head=dict(num_classes=decode_classes),
                auxiliary_head=dict(num_classes=aux_classes)),
            test_dataloader=dict(dataset=dataset)))


@pytest.mark.parametrize('decode,aux,head', [(3, 5, 'decode_head'),
                                             (5, 7, 'auxiliary_head')])
def test_num_classes_other_than_the_data_sets_is_refused(decode, aux, head):
    """num_classes=3 on the 5-class toy data ran to the end (exit 0)."""
    import hemnet_mmseg  # noqa: F401  (registers ToyShapesDataset)
    from hemnet_mmseg.cli.config_checks import check_num_classes
    from hemnet_mmseg.utils import UserError
    with pytest.raises(UserError) as err:
        check_num_classes(_segmentor_cfg(decode, aux), ('test_dataloader', ))
    text = str(err.value)
    assert f'model.{head}.num_classes=' in text and 'has 5 classes' in text
    assert f'--cfg-options model.{head}.num_classes=5' in text
    check_num_classes(_segmentor_cfg(5, 5), ('test_dataloader', ))
    # a config's own metainfo overrides the class's
    check_num_classes(
        _segmentor_cfg(2, 2, dict(classes=('a', 'b'))), ('test_dataloader', ))
