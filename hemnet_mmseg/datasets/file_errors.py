"""Data set errors that name the files involved.

mmseg's loading transforms fail deep inside cv2 or PIL on a corrupt image
(``'NoneType' object has no attribute 'shape'``) without naming the file, a
missing data root surfaces as an empty listing, a label value outside the
classes raises an ``IndexError`` in the loss (training) or silently changes
the metric (test), and a label of another size than its image fails far
away. :class:`NamedFileErrorsMixin` turns each into an error that names the
files (and the value), raised as :class:`BadSampleError`; the tools print
it as one line. The checks are transform steps (:class:`CheckSegFiles`,
:class:`CheckSegLabel`) that the mixin inserts into the data set's own
pipeline.

Two silent misreadings are refused before the files are decoded: a 16-bit
label PNG holding values above 255 (mmseg casts labels to uint8, so
256 + c became class c), and an image whose EXIF orientation is not the
identity (cv2 rotates the image by the tag while mmseg loads its label
"unchanged": pixels and labels misaligned). Loading both with mmcv's
``color_type='color_ignore_orientation'`` would be cheaper and consistent
with how labels load, but it silently misaligns a label drawn on the
displayed (rotated) view; refusing never trains on a misaligned pair and
costs 0.02 ms per CamVid PNG (its chunk headers are read, not its pixels).
"""
import os.path as osp

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, LoadAnnotations
from mmengine.fileio import get

from ..utils.errors import UserError, join_lines


def png_bit_depth(path: str) -> int:
    """The bit depth in a PNG's header (0 when ``path`` is not a PNG)."""
    with open(path, 'rb') as f:
        head = f.read(25)
    if len(head) < 25 or head[:8] != b'\x89PNG\r\n\x1a\n':
        return 0
    return head[24]


#: PNG chunks Pillow may take EXIF from: eXIf, and the text chunks that
#: can hold a "Raw profile type exif"
_PNG_EXIF_CHUNKS = (b'eXIf', b'tEXt', b'zTXt', b'iTXt')


def _png_may_hold_exif(path: str) -> bool:
    """False when ``path`` is a PNG none of whose chunks can hold EXIF;
    reads the chunk headers only (Pillow decodes the whole PNG to look for
    EXIF that may follow the pixels: 4 ms per CamVid image, on every
    sample). True for anything else, or when in doubt."""
    with open(path, 'rb') as f:
        if f.read(8) != b'\x89PNG\r\n\x1a\n':
            return True
        while True:
            head = f.read(8)
            if len(head) < 8:
                return True  # truncated: let Pillow decide
            kind = head[4:]
            if kind in _PNG_EXIF_CHUNKS:
                return True
            if kind == b'IEND':
                return False
            f.seek(int.from_bytes(head[:4], 'big') + 4, 1)  # data, CRC


def exif_orientation(path: str) -> int:
    """The EXIF orientation tag of an image (1, the identity, when it has
    none or is not readable by PIL)."""
    from PIL import Image
    if not _png_may_hold_exif(path):
        return 1
    try:
        with Image.open(path) as img:
            return int(img.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, SyntaxError):
        return 1


def _unreadable(path: str) -> bool:
    """True when ``path`` does not decode as an image."""
    try:
        img = mmcv.imfrombytes(get(path), flag='unchanged', backend='pillow')
    except Exception:
        return True
    return not isinstance(img, np.ndarray) or img.size == 0


class BadSampleError(ValueError):
    """A sample the model cannot use; the message names its files."""


class MissingDataError(UserError, FileNotFoundError):
    """A data folder is missing or holds no images; the tools print it as
    one line."""


def _summary(err: Exception) -> str:
    """``Type: message`` on one line (cv2's messages end in a newline)."""
    return f'{type(err).__name__}: {join_lines(str(err))}'


class CheckSegFiles(BaseTransform):
    """Before anything is decoded: no 16-bit label with values above 255
    and no image with an EXIF rotation beside a label (see the module doc).

    Args:
        owner (str): the data set named in the error. Defaults to
            ``'dataset'``.
    """

    def __init__(self, owner: str = 'dataset') -> None:
        self.owner = owner

    def transform(self, results: dict) -> dict:
        seg_path = results.get('seg_map_path')
        img_path = results.get('img_path')
        if not seg_path or not osp.isfile(seg_path):
            return results
        if png_bit_depth(seg_path) == 16:
            seg = mmcv.imfrombytes(
                get(seg_path), flag='unchanged', backend='pillow')
            if seg is not None and seg.max() > 255:
                raise BadSampleError(
                    f'{self.owner}: label {seg_path} is a 16-bit PNG '
                    f'holding {int(seg.max())}: labels are read as 8-bit (a '
                    'value 256 + c would become class c); save it as 8-bit '
                    'with values in [0, 255]')
        if img_path and osp.isfile(img_path):
            orientation = exif_orientation(img_path)
            if orientation != 1:
                raise BadSampleError(
                    f'{self.owner}: image {img_path} has EXIF orientation '
                    f'{orientation}: it would be loaded rotated while its '
                    f'label {seg_path} is not; save it with its pixels '
                    'rotated and the tag removed (orientation 1)')
        return results


class CheckSegLabel(BaseTransform):
    """Right after the label is loaded (and mapped by the label map): its
    values are in [0, num_classes) or the ignore index, and its size is the
    image's original size (``ori_shape``), whatever resizing the pipeline
    does before or after.

    Args:
        num_classes (int): the data set's classes.
        ignore_index (int): the label value the loss and metric ignore.
        owner (str): the data set named in the error. Defaults to
            ``'dataset'``.
    """

    def __init__(self,
                 num_classes: int,
                 ignore_index: int,
                 owner: str = 'dataset') -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.owner = owner

    def transform(self, results: dict) -> dict:
        seg = results['gt_seg_map']
        if seg.ndim != 2:
            raise BadSampleError(
                f'{self.owner}: label {results["seg_map_path"]} has shape '
                f'{tuple(seg.shape)}: a label is one channel of class '
                'indices (H, W); save it as a single-channel (grayscale or '
                'palette) PNG')
        ori = results.get('ori_shape')
        if ori is not None and tuple(seg.shape[:2]) != tuple(ori[:2]):
            raise BadSampleError(
                f'{self.owner}: label {results["seg_map_path"]} is '
                f'{tuple(seg.shape[:2])} but its image {results["img_path"]} '
                f'is {tuple(ori[:2])} (H, W)')
        bad = (seg >= self.num_classes) & (seg != self.ignore_index)
        if bad.any():
            raise BadSampleError(
                f'{self.owner}: label {results["seg_map_path"]} holds the '
                f'value {int(seg[bad].flat[0])}, outside '
                f'[0, {self.num_classes}) and not the ignore index '
                f'{self.ignore_index}')
        return results


class NamedFileErrorsMixin:
    """Mixin for ``BaseSegDataset`` subclasses: the checks above as steps of
    the data set's own pipeline (:class:`CheckSegFiles` first,
    :class:`CheckSegLabel` right after the transform that loads the label),
    and unreadable files named in :meth:`prepare_data`.

    Subclasses set ``DATA_HINT``: how to create or download the data.
    """
    DATA_HINT = ''

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name = type(self).__name__
        steps = self.pipeline.transforms
        at = next((i + 1 for i, step in enumerate(steps)
                   if isinstance(step, LoadAnnotations)), None)
        if at is not None:
            steps.insert(
                at,
                CheckSegLabel(
                    len(self.metainfo['classes']), self.ignore_index, name))
        steps.insert(0, CheckSegFiles(name))

    def _check_data_root(self) -> None:
        """Raise :class:`MissingDataError` naming a missing data folder."""
        for key in ('img_path', 'seg_map_path'):
            folder = self.data_prefix.get(key)
            if folder and not osp.isdir(folder):
                raise MissingDataError(
                    f'{type(self).__name__}: data folder not found: {folder} '
                    f'(data_root={self.data_root!r}). {self.DATA_HINT}')

    def load_data_list(self):
        self._check_data_root()
        data_list = super().load_data_list()
        if not data_list:
            raise MissingDataError(
                f'{type(self).__name__}: no images with suffix '
                f'{self.img_suffix!r} in {self.data_prefix.get("img_path")}. '
                f'{self.DATA_HINT}')
        return data_list

    def prepare_data(self, idx):
        try:
            return super().prepare_data(idx)
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
                f'file ({_summary(err)})') from err
