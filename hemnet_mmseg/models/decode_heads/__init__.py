from .hem_head import HEMHead

__all__ = ['HEMHead']
