from .camvid import CamVidDataset
from .file_errors import BadSampleError
from .toy_shapes import ToyShapesDataset

__all__ = ['BadSampleError', 'CamVidDataset', 'ToyShapesDataset']
