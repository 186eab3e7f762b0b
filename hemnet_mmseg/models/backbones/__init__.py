from .pointwise_net import PointwiseNet

__all__ = ['PointwiseNet']
