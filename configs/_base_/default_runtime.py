# mmseg's runtime, plus the plugin import (HEMHead, the project's data sets)
# and its hooks: SafeResumeHook (resuming executes no code stored in a
# checkpoint) and RNGStateHook (resuming restores the torch RNG: bit-exact).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['hemnet_mmseg'], allow_failed_imports=False)
custom_hooks = [dict(type='SafeResumeHook'), dict(type='RNGStateHook')]
