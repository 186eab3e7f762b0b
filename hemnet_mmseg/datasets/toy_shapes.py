"""The embedded toy shapes data set (see :mod:`.toy_shapes_generator`)."""
import os.path as osp
from types import MappingProxyType
from typing import Mapping, Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .file_errors import NamedFileErrorsMixin
from .toy_shapes_generator import CLASSES, DEFAULTS, META_FILE, PALETTE
from .toy_shapes_generator import generate as generate_toy_shapes


@DATASETS.register_module()
class ToyShapesDataset(NamedFileErrorsMixin, BaseSegDataset):
    """Synthetic textured shapes whose class needs context (5 classes).

    Args:
        generate (dict, optional): when ``data_root`` holds no generated
            data yet, generate it with these arguments of
            :func:`~.toy_shapes_generator.generate` (``num_train``,
            ``num_val``, ``size``, ``seed``). None never generates.
            Defaults to ``{}`` (the generator's defaults).
        **kwargs: ``BaseSegDataset`` arguments.
    """
    METAINFO = dict(classes=CLASSES, palette=PALETTE)
    #: generates its data into ``data_root`` on first use (the tools then
    #: need no data root to exist), unless ``generate=None``
    GENERATES_DATA = True
    DATA_HINT = ('Create it with `hemnet-make-toy-data ROOT` (or python -m '
                 'hemnet_mmseg.datasets.toy_shapes_generator ROOT).')

    def __init__(self,
                 generate: Optional[Mapping] = MappingProxyType({}),
                 **kwargs) -> None:
        self.generate_cfg = None if generate is None else {
            **DEFAULTS,
            **generate
        }
        super().__init__(img_suffix='.png', seg_map_suffix='.png', **kwargs)

    def load_data_list(self):
        root = self.data_root
        if self.generate_cfg is not None and root and not osp.isfile(
                osp.join(root, META_FILE)):
            generate_toy_shapes(root, **self.generate_cfg)
        return super().load_data_list()
