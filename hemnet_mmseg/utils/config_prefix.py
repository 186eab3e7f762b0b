"""Make ``hemnet_mmseg::<cfg>`` config paths resolve in MMEngine 0.10.x.

MMEngine resolves ``pkg::path`` only for the packages in the private dict
``mmengine.config.utils.MODULE2PACKAGE`` and reads ``.mim/model-index.yml``
(``_get_cfg_metainfo``) of the installed package. Both are private names;
:func:`check_mmengine_private_api` fails with a clear message if a future
MMEngine renames them, and a test calls it; importing the plugin then
warns instead of failing.
"""
import warnings

SCOPE = 'hemnet_mmseg'
DIST_NAME = 'hemnet_mmseg'


def check_mmengine_private_api() -> None:
    """Raise ``ImportError`` naming the private MMEngine API that changed."""
    from mmengine.config import utils as cfg_utils
    missing = [
        name for name in ('MODULE2PACKAGE', '_get_cfg_metainfo',
                          '_get_package_and_cfg_path')
        if not hasattr(cfg_utils, name)
    ]
    if missing or not isinstance(
            getattr(cfg_utils, 'MODULE2PACKAGE', None), dict):
        raise ImportError(
            'hemnet_mmseg relies on private names of mmengine.config.utils '
            f'({", ".join(missing) or "MODULE2PACKAGE is not a dict"}) '
            'that this MMEngine version lacks; `hemnet_mmseg::` config paths '
            'cannot work. Pin mmengine==0.10.7.')


def register_config_prefix() -> bool:
    """Add ``hemnet_mmseg`` to MMEngine's package-prefix table (idempotent).

    Where this MMEngine lacks the private names, importing the plugin still
    works: it warns once, and only ``hemnet_mmseg::`` paths cannot resolve.

    Returns:
        bool: whether the prefix is registered.
    """
    try:
        check_mmengine_private_api()
    except ImportError as err:
        warnings.warn(str(err), RuntimeWarning, stacklevel=2)
        return False
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE.setdefault(SCOPE, DIST_NAME)
    return True
