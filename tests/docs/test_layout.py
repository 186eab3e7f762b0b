"""docs/development.md's layout names every file of the package, the tools
and the studies, and every folder it names exists (issue 34: it had missed
seven modules and two hooks)."""
import os.path as osp
import re
from glob import glob

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _layout() -> str:
    text = open(osp.join(REPO, 'docs', 'development.md')).read()
    section = text.split('## Layout', 1)[1]
    return section.split('```', 2)[1]


def test_every_file_is_named():
    block = _layout()
    words = set(re.findall(r'[\w.-]+', block))
    files = [
        p for pattern in ('hemnet_mmseg/**/*.py', 'tools/*',
                          'tools/analysis/*', 'studies/*.py')
        for p in glob(osp.join(REPO, pattern), recursive=True) if osp.isfile(p)
        and '.mim' not in p and osp.basename(p) != '__init__.py'
    ]
    assert files
    missing = sorted(
        osp.relpath(p, REPO) for p in files if osp.basename(p) not in words
        and osp.splitext(osp.basename(p))[0] not in words)
    assert not missing, f'not in the layout: {missing}'


def test_every_folder_named_exists():
    block = _layout()
    top = None
    for line in block.splitlines():
        path = line.split()[0] if line.strip() else ''
        if not path.endswith('/') or '{' in path:
            continue
        if not line.startswith(' '):
            top = path if path == 'hemnet_mmseg/' else None
            folder = path
        else:
            folder = (top or '') + path
        assert osp.isdir(osp.join(REPO, folder)), folder
