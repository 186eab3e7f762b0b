from .camvid import CamVidDataset
from .file_errors import BadSampleError, MissingDataError
from .toy_shapes import ToyShapesDataset

__all__ = [
    'BadSampleError', 'CamVidDataset', 'MissingDataError', 'ToyShapesDataset'
]
