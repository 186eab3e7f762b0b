"""Build hook: ship configs, tools and the model index inside the package.

MMEngine resolves ``hemnet_mmseg::<cfg>`` from ``<package>/.mim/configs``
and reads ``<package>/.mim/model-index.yml``; ``mim train hemnet_mmseg CFG``
runs ``<package>/.mim/tools/train.py``. As mmseg does, the build copies
those folders into ``hemnet_mmseg/.mim`` (metadata lives in setup.cfg).
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ['configs', 'tools', 'model-index.yml']


def copy_mim_files() -> list:
    """Copy configs/, tools/, model-index.yml into hemnet_mmseg/.mim."""
    mim = osp.join(HERE, 'hemnet_mmseg', '.mim')
    if osp.isdir(mim):
        shutil.rmtree(mim)
    os.makedirs(mim)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        if osp.isdir(src):
            shutil.copytree(
                src,
                osp.join(mim, name),
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        elif osp.isfile(src):
            shutil.copy(src, mim)
    files = []
    for root, _, names in os.walk(mim):
        for n in names:
            files.append(osp.relpath(osp.join(root, n),
                                     osp.join(HERE, 'hemnet_mmseg')))
    return files


class BuildPyWithMim(build_py):

    def run(self):
        files = copy_mim_files()
        self.package_data.setdefault('hemnet_mmseg', []).extend(files)
        # build_py computed data_files before run(); recompute them
        self.data_files = self._get_data_files()
        super().run()


if __name__ == '__main__':
    setup(cmdclass={'build_py': BuildPyWithMim})
