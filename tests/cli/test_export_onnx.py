"""tools/export_onnx.py: the whole segmentor to ONNX, opset 11 and the
current default exporter, checked against PyTorch with ONNX Runtime (the
deploy extra; without it these tests skip)."""
import os.path as osp

import pytest

pytestmark = pytest.mark.slow

ort = pytest.importorskip(
    'onnxruntime',
    reason='the deploy extra is not installed: '
    'pip install "hemnet_mmseg[deploy]"')
onnx = pytest.importorskip('onnx', reason='the deploy extra is not installed')


def _ckpt(toy_trained):
    work_dir, _ = toy_trained
    return osp.join(work_dir, 'iter_4.pth')


def test_opset11_export_matches_pytorch(toy_trained, toy_config, tmp_path,
                                        capsys):
    from hemnet_mmseg.cli.export_onnx import main
    out = str(tmp_path / 'toy.onnx')
    result = main([toy_config, _ckpt(toy_trained), '--out', out])
    assert result['max_abs_diff'] < 1e-4
    assert result['argmax_agreement'] > 0.999
    model = onnx.load(out)
    assert model.opset_import[0].version == 11
    ops = {node.op_type for node in model.graph.node}
    assert 'Einsum' not in ops and 'Resize' in ops
    # batch and size are dynamic
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ['batch', '', 'height', 'width']
    assert 'argmax agreement 100.00%' in capsys.readouterr().out


def test_the_current_default_exporter_works_too(toy_trained, toy_config,
                                                tmp_path):
    pytest.importorskip('onnxscript', reason='the deploy extra')
    from hemnet_mmseg.cli.export_onnx import main
    result = main([
        toy_config,
        _ckpt(toy_trained), '--out',
        str(tmp_path / 'dyn.onnx'), '--dynamo'
    ])
    assert result['max_abs_diff'] < 1e-4


def test_a_difference_past_the_tolerance_is_an_error(toy_trained, toy_config,
                                                     tmp_path):
    from hemnet_mmseg.cli.export_onnx import main
    from hemnet_mmseg.utils import UserError
    with pytest.raises(UserError, match='more than --atol'):
        main([
            toy_config,
            _ckpt(toy_trained), '--out',
            str(tmp_path / 'a.onnx'), '--atol', '1e-12'
        ])


def test_emanet_needs_einsum_which_opset11_lacks(toy_emanet_config, tmp_path):
    """What the plugin's matmul-only unit buys: mmseg's EMAModule (also in
    Float32EMAHead) uses einsum, which ONNX has from opset 12."""
    from mmseg.registry import MODELS

    from hemnet_mmseg.cli.export_onnx import export
    from hemnet_mmseg.utils import load_config, replace_syncbn
    cfg = load_config(toy_emanet_config)
    model = MODELS.build(replace_syncbn(cfg.model.to_dict())).eval()
    with pytest.raises(Exception, match='einsum'):
        export(model, str(tmp_path / 'emanet.onnx'), opset=11)
    export(model, str(tmp_path / 'emanet12.onnx'), opset=12)
    assert osp.isfile(tmp_path / 'emanet12.onnx')
