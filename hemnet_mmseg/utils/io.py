"""Files written whole or not at all."""
import os
import os.path as osp
from typing import Union


def atomic_write(path: str, data: Union[str, bytes]) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the
    whole new one, never a part: a temporary file beside it, flushed to
    disk, then ``os.replace``. A write that fails (a full disk, a signal)
    leaves no temporary file behind and the old file as it was.

    Args:
        path (str): the file to write.
        data (str | bytes): its new content.
    """
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise
