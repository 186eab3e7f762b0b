"""Version of the hemnet_mmseg plugin."""
__version__ = '0.1.0'
