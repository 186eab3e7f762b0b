"""Data set errors that name the files involved.

mmseg's loading transforms fail deep inside cv2 or PIL on a corrupt image
(``'NoneType' object has no attribute 'shape'``) without naming the file, and
a missing data root surfaces as an empty listing. :class:`NamedFileErrorsMixin`
turns both into errors that name the path and say how to get the data.
"""
import os.path as osp

import mmcv
import numpy as np
from mmengine.fileio import get


def _unreadable(path: str) -> bool:
    """True when ``path`` does not decode as an image."""
    try:
        img = mmcv.imfrombytes(get(path), flag='unchanged', backend='pillow')
    except Exception:
        return True
    return not isinstance(img, np.ndarray) or img.size == 0


class NamedFileErrorsMixin:
    """Mixin for ``BaseSegDataset`` subclasses.

    Subclasses set ``DATA_HINT``: how to create or download the data.
    """
    DATA_HINT = ''

    def _check_data_root(self) -> None:
        """Raise ``FileNotFoundError`` naming a missing data folder."""
        for key in ('img_path', 'seg_map_path'):
            folder = self.data_prefix.get(key)
            if folder and not osp.isdir(folder):
                raise FileNotFoundError(
                    f'{type(self).__name__}: data folder not found: {folder} '
                    f'(data_root={self.data_root!r}). {self.DATA_HINT}')

    def load_data_list(self):
        self._check_data_root()
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'{type(self).__name__}: no images with suffix '
                f'{self.img_suffix!r} in {self.data_prefix.get("img_path")}. '
                f'{self.DATA_HINT}')
        return data_list

    def prepare_data(self, idx):
        try:
            return super().prepare_data(idx)
        except Exception as err:
            info = self.get_data_info(idx)
            paths = [info.get('img_path'), info.get('seg_map_path')]
            bad = [p for p in paths if p and (not osp.isfile(p)
                                              or _unreadable(p))]
            if not bad:
                raise
            raise RuntimeError(
                f'{type(self).__name__}: cannot read '
                f'{" and ".join(bad)} (sample {idx}): not a readable image '
                f'file ({type(err).__name__}: {err})') from err
