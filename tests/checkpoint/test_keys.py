"""A checkpoint of another model is refused: other keys, or the right keys
with other shapes (issue 23, item 8)."""
import pytest
import torch

from hemnet_mmseg.checkpoint import check_state_dict_keys
from hemnet_mmseg.checkpoint.keys import state_dict_shape_mismatch
from hemnet_mmseg.utils import UserError


def _model(width=4):
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, width, 1), torch.nn.BatchNorm2d(width))


def test_same_model_passes():
    check_state_dict_keys(_model(), _model().state_dict(), 'ck.pth')


def test_module_prefix_is_ignored():
    state = {f'module.{k}': v for k, v in _model().state_dict().items()}
    check_state_dict_keys(_model(), state, 'ck.pth')


def test_other_shapes_are_refused_naming_them():
    state = _model(width=8).state_dict()
    assert state_dict_shape_mismatch(
        _model(), state)[0].startswith('0.bias ((8,) vs (4,))')
    with pytest.raises(UserError, match='of another shape') as err:
        check_state_dict_keys(_model(), state, 'ck.pth')
    assert 'ck.pth' in str(err.value) and '\n' not in str(err.value)


def test_other_keys_are_refused():
    state = dict(_model().state_dict(), extra=torch.zeros(1))
    with pytest.raises(UserError, match='1 unexpected'):
        check_state_dict_keys(_model(), state, 'ck.pth')
