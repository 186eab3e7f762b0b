"""CamVid (SegNet split): 11 classes, label 11 "unlabelled" -> ignore 255.

Brostow et al., *Semantic object classes in video: a high-definition ground
truth database*, PRL 2009; the 367/101/233 train/val/test split and the
11-class labels of SegNet (Badrinarayanan et al., arXiv 1511.00561).
Layout (as in the SegNet tutorial copy)::

    <data_root>/train/*.png   <data_root>/trainannot/*.png
    <data_root>/val/*.png     <data_root>/valannot/*.png
    <data_root>/test/*.png    <data_root>/testannot/*.png

Images are 480x360 RGB; labels single-channel uint8 with values 0..11.
"""
from typing import Dict, Optional, Sequence

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .file_errors import NamedFileErrorsMixin


@DATASETS.register_module()
class CamVidDataset(NamedFileErrorsMixin, BaseSegDataset):
    """CamVid, 11 classes; "unlabelled" (11) maps to ``ignore_index`` 255.

    Args:
        img_suffix (str): image file suffix. Defaults to ``'.png'`` (the
            SegNet copy); a re-encoded copy may be ``'.jpg'`` (lossy: its
            numbers are not comparable with PNG runs).
        seg_map_suffix (str): label file suffix. Defaults to ``'.png'``.
        **kwargs: ``BaseSegDataset`` arguments (``data_root``,
            ``data_prefix``, ``pipeline``, ...).
    """
    METAINFO = dict(
        classes=('sky', 'building', 'pole', 'road', 'pavement', 'tree',
                 'signsymbol', 'fence', 'car', 'pedestrian', 'bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128],
                 [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128],
                 [64, 0, 128], [64, 64, 0], [0, 128, 192]])
    UNLABELLED = 11
    IGNORE_INDEX = 255
    DATA_HINT = ('CamVid is not downloaded at run time: put the SegNet-split '
                 'copy (train/, trainannot/, val/, valannot/) there, or set '
                 'data_root to it (for example ../shared/data/camvid).')

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    @classmethod
    def get_label_map(
            cls,
            new_classes: Optional[Sequence] = None
    ) -> Optional[Dict[int, int]]:
        """mmseg's class-subset mapping, plus unlabelled (11) -> 255."""
        label_map = super().get_label_map(new_classes) or {}
        label_map[cls.UNLABELLED] = cls.IGNORE_INDEX
        return label_map
