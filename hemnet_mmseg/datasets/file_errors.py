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


def _packed(results):
    """(inputs, data_sample) pairs of a packed sample (a TTA sample packs
    lists of them)."""
    inputs, samples = results.get('inputs'), results.get('data_samples')
    if isinstance(samples, (list, tuple)):
        return list(zip(inputs, samples))
    return [(inputs, samples)]


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

    def _check_labels(self, idx: int, results) -> None:
        """Label values in [0, num_classes) or the ignore index; labels of
        the image's size (after the pipeline, which resizes both alike)."""
        num_classes = len(self.metainfo['classes'])
        for inputs, sample in _packed(results):
            gt = getattr(sample, 'gt_sem_seg', None)
            if gt is None or inputs is None:
                continue
            seg = gt.data
            info = self.get_data_info(idx)
            if tuple(seg.shape[-2:]) != tuple(inputs.shape[-2:]):
                raise BadSampleError(
                    f'{type(self).__name__}: label {info["seg_map_path"]} '
                    f'is {tuple(seg.shape[-2:])} but its image '
                    f'{info["img_path"]} is {tuple(inputs.shape[-2:])} '
                    '(H, W) after the pipeline')
            bad = (seg >= num_classes) & (seg != self.ignore_index)
            if bad.any():
                value = int(seg[bad].flatten()[0])
                raise BadSampleError(
                    f'{type(self).__name__}: label {info["seg_map_path"]} '
                    f'holds the value {value}, outside [0, {num_classes}) '
                    f'and not the ignore index {self.ignore_index}')

    def prepare_data(self, idx):
        try:
            results = super().prepare_data(idx)
        except Exception as err:
            info = self.get_data_info(idx)
            paths = [info.get('img_path'), info.get('seg_map_path')]
            bad = [p for p in paths if p and (not osp.isfile(p)
                                              or _unreadable(p))]
            if not bad:
                raise
            raise BadSampleError(
                f'{type(self).__name__}: cannot read '
                f'{" and ".join(bad)} (sample {idx}): not a readable image '
                f'file ({type(err).__name__}: {err})') from err
        if results is not None:
            self._check_labels(idx, results)
        return results
