"""``register_all_modules``: what MMEngine calls for the ``hemnet_mmseg``
scope (``Registry.import_from_location`` looks for ``<scope>.utils.
register_all_modules``), as mmseg's ``mmseg.utils.register_all_modules``."""
import datetime

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import mmseg's and hemnet_mmseg's modules into the registries.

    Args:
        init_default_scope (bool): also make ``hemnet_mmseg`` the default
            scope (its registries fall back to mmseg's). Defaults to True.
    """
    from mmseg.utils import register_all_modules as register_mmseg
    register_mmseg(init_default_scope=False)
    import hemnet_mmseg.datasets  # noqa: F401
    import hemnet_mmseg.engine  # noqa: F401
    import hemnet_mmseg.models  # noqa: F401
    if init_default_scope:
        current = DefaultScope.get_current_instance()
        if current is None or current.scope_name != 'hemnet_mmseg':
            DefaultScope.get_instance(
                f'hemnet_mmseg-{datetime.datetime.now()}',
                scope_name='hemnet_mmseg')
