"""Export a segmentor to ONNX and check it against PyTorch: ``python
tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--dynamo]
[--images IMG ...]``.

The implementation lives in :mod:`hemnet_mmseg.cli.export_onnx` (also
installed as ``hemnet-export-onnx``); docs/deployment.md says what the graph
takes and returns, and how to run it with ONNX Runtime or mmdeploy."""
from hemnet_mmseg.cli.export_onnx import cli

if __name__ == '__main__':
    cli()
