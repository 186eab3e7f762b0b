"""Output paths checked before any work: never an input, never inside the
data set under evaluation, never through a symbolic link, writable, and
not over existing files without ``--overwrite``."""
import os
import os.path as osp
import tempfile

from mmengine.config import Config

from hemnet_mmseg.utils import UserError
from .config_checks import dataset_configs


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_writable(out: str) -> None:
    """``out`` (a file or folder to create) can be written: every name on
    its way fits the file system, and its nearest existing folder takes a
    new file (checked by making one: a read-only file system, a folder of
    another user).

    Raises:
        UserError: naming ``out`` and what stops it.
    """
    folder, names = osp.abspath(out), []
    while not osp.isdir(folder) and osp.dirname(folder) != folder:
        folder, name = osp.split(folder)
        names.append(name)
    try:
        longest = os.pathconf(folder, 'PC_NAME_MAX')
    except (OSError, ValueError):
        longest = 255
    for name in names:
        if len(name.encode()) > longest:
            raise UserError(f'--out {out}: the name {name[:40]}... has '
                            f'{len(name.encode())} bytes, more than the '
                            f'{longest} this file system allows')
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(f'--out {out}: cannot write in {folder} '
                        f'({err.strerror})') from err


def check_output_file(out: str, inputs, overwrite: bool) -> None:
    """An output file that is not one of the ``inputs``, not a folder, can
    be written (:func:`check_writable`) and, without ``overwrite``, does not
    exist yet: checked before any work is done.

    Raises:
        UserError: naming the path and why.
    """
    for path in inputs:
        if osp.exists(path) and osp.realpath(out) == osp.realpath(path):
            raise UserError(f'--out {out} is the input {path}: it would be '
                            'overwritten; write elsewhere')
    if osp.isdir(out):
        raise UserError(f'--out {out} is a folder; name a file')
    if osp.exists(out) and not overwrite:
        raise UserError(f'--out {out} exists; pass --overwrite to replace it')
    check_writable(out)


def check_output_dir(out: str, cfg: Config, loader: str,
                     overwrite: bool) -> None:
    """A folder for predictions outside the data set being evaluated and,
    without ``overwrite``, empty or absent.

    Raises:
        UserError: ``out`` is inside a data root of ``cfg[loader]`` (its
            files would overwrite the labels: re-evaluating then reported
            mIoU 100), holds a symbolic link (written through, whatever
            ``overwrite`` says), or holds files.
    """
    loader_cfg = cfg.get(loader) or {}
    for ds in dataset_configs(loader_cfg.get('dataset')):
        root = ds.get('data_root')
        if root and _inside(out, root):
            raise UserError(f'--out {out} is inside the data set being '
                            f'evaluated ({root}): predictions would overwrite '
                            'its files; write elsewhere')
    check_writable(out)
    if not osp.isdir(out):
        return
    links = sorted(e.path for e in os.scandir(out) if e.is_symlink())
    if links:
        raise UserError(f'--out {out} holds a symbolic link, {links[0]}: a '
                        'prediction of that name would be written to '
                        'wherever it points; remove the link or write '
                        'elsewhere')
    if os.listdir(out) and not overwrite:
        raise UserError(f'--out {out} holds files; pass --overwrite to write '
                        'over them')
