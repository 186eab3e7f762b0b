# mmseg's runtime, plus the plugin import (HEMHead, the project's data sets)
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['hemnet_mmseg'], allow_failed_imports=False)
