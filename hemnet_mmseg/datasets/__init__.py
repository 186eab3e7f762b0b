from .camvid import CamVidDataset
from .toy_shapes import ToyShapesDataset

__all__ = ['CamVidDataset', 'ToyShapesDataset']
