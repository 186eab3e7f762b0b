"""Data set errors that name the files involved.

mmseg's loading transforms fail deep inside cv2 or PIL on a corrupt image
(``'NoneType' object has no attribute 'shape'``) without naming the file, a
missing data root surfaces as an empty listing, a label value outside the
classes raises an ``IndexError`` in the loss (training) or silently changes
the metric (test), and a label of another size than its image fails far
away. :class:`NamedFileErrorsMixin` turns each into an error that names the
files (and the value), raised as :class:`BadSampleError`; the tools print
it as one line.
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


class BadSampleError(ValueError):
    """A sample the model cannot use; the message names its files."""


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

    def _check_label(self, results: dict) -> None:
        """Right after the label is loaded (and mapped by the label map):
        its values are in [0, num_classes) or the ignore index, and its size
        is the image's original size (``ori_shape``), whatever resizing
        the pipeline does before or after."""
        seg = results['gt_seg_map']
        ori = results.get('ori_shape')
        if ori is not None and tuple(seg.shape[:2]) != tuple(ori[:2]):
            raise BadSampleError(
                f'{type(self).__name__}: label {results["seg_map_path"]} '
                f'is {tuple(seg.shape[:2])} but its image '
                f'{results["img_path"]} is {tuple(ori[:2])} (H, W)')
        num_classes = len(self.metainfo['classes'])
        bad = (seg >= num_classes) & (seg != self.ignore_index)
        if bad.any():
            raise BadSampleError(
                f'{type(self).__name__}: label {results["seg_map_path"]} '
                f'holds the value {int(seg[bad].flat[0])}, outside '
                f'[0, {num_classes}) and not the ignore index '
                f'{self.ignore_index}')

    def _run_pipeline(self, idx: int):
        """``Compose.__call__``, checking the label as soon as a transform
        has loaded it."""
        results = self.get_data_info(idx)
        checked = False
        for transform in self.pipeline.transforms:
            results = transform(results)
            if results is None:
                return None
            if not checked and 'gt_seg_map' in results:
                self._check_label(results)
                checked = True
        return results

    def prepare_data(self, idx):
        try:
            return self._run_pipeline(idx)
        except BadSampleError:
            raise
        except Exception as err:
            info = self.get_data_info(idx)
            paths = [info.get('img_path'), info.get('seg_map_path')]
            bad = [
                p for p in paths if p and (not osp.isfile(p) or _unreadable(p))
            ]
            if not bad:
                raise
            raise BadSampleError(
                f'{type(self).__name__}: cannot read '
                f'{" and ".join(bad)} (sample {idx}): not a readable image '
                f'file ({type(err).__name__}: {err})') from err
