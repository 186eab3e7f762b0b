"""Where the analysis tools get a head and its inputs from.

* :func:`random_head`: a freshly initialised ``HEMHead`` (the default
  ``configs`` head sizes) on random backbone features and random labels;
* :func:`load_trained`: a segmentor from ``CONFIG CHECKPOINT`` and a batch
  of real images and labels from the config's validation set, turned into
  the decode head's input features by the trained backbone.

Both return a :class:`HeadAndBatch` whose ``loss()`` is the decode head's
own segmentation loss on the head's own output (``head(inputs)``), so
gradients are those training would see; :func:`~.em_trace.trace_em` reads
the EM inside.
Shapes: B batch, C_in backbone channels, H x W feature map.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor

from hemnet_mmseg.models import HEMHead
from .em_trace import find_hem_module


@dataclass
class HeadAndBatch:
    """A decode head, its inputs and the loss on them.

    Attributes:
        head (HEMHead): in eval mode (fixed BN statistics, no dropout).
        inputs (list[Tensor]): backbone features, each (B, C_in, H, W).
        loss (callable): ``loss(logits) -> Tensor`` the head's loss.
        images (Tensor | None): (B, 3, H_img, W_img) uint8 RGB, real data.
        meta (dict): what the head and batch are (for the JSON).
    """
    head: HEMHead
    inputs: List[Tensor]
    loss: Callable[[Tensor], Tensor]
    images: Optional[Tensor] = None
    meta: dict = field(default_factory=dict)


def random_head(batch: int = 2,
                height: int = 32,
                width: int = 32,
                in_channels: int = 512,
                ema_channels: int = 512,
                num_bases: int = 64,
                num_classes: int = 19,
                seed: int = 0,
                **head_kwargs) -> HeadAndBatch:
    """A randomly initialised HEMHead on random features (B, C_in, H, W)
    and random labels; EM sizes as the Cityscapes configs (C 512, K 64),
    C_in of a ResNet-18 (512) to keep the convolutions around it cheap."""
    torch.manual_seed(seed)
    head = HEMHead(
        in_channels=in_channels,
        in_index=0,
        channels=128 if in_channels <= 512 else 256,
        ema_channels=ema_channels,
        num_bases=num_bases,
        num_stages=3,
        num_classes=num_classes,
        dropout_ratio=0.0,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        **head_kwargs).eval()
    gen = torch.Generator().manual_seed(seed)
    # post-ReLU backbone features
    feats = torch.randn(
        batch, in_channels, height, width, generator=gen).relu()
    labels = torch.randint(
        0, num_classes, (batch, height, width), generator=gen)

    def loss(logits: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(logits, labels)

    meta = dict(
        source='random',
        seed=seed,
        input_shape=list(feats.shape),
        num_classes=num_classes,
        head=dict(
            in_channels=in_channels,
            ema_channels=ema_channels,
            num_bases=num_bases,
            **head_kwargs))
    return HeadAndBatch(head, [feats], loss, None, meta)


def load_trained(config: str,
                 checkpoint: str,
                 num_images: int = 2,
                 device: str = 'cpu',
                 cfg_options: Optional[dict] = None) -> HeadAndBatch:
    """A trained segmentor's decode head on real images of its val set."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmseg.apis import init_model
    from mmseg.registry import DATASETS

    from hemnet_mmseg.checkpoint import check_checkpoint_file
    from hemnet_mmseg.utils import load_config, replace_syncbn
    check_checkpoint_file(checkpoint)
    cfg = load_config(config, cfg_options)
    replace_syncbn(cfg.model)
    model = init_model(cfg, checkpoint, device=device).eval()
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i] for i in range(min(num_images, len(dataset)))]
    data = model.data_preprocessor(pseudo_collate(samples), training=False)
    with torch.no_grad():
        inputs = [f.detach() for f in model.extract_feat(data['inputs'])]
    head = model.decode_head
    find_hem_module(head)
    data_samples = data['data_samples']

    def loss(logits: Tensor) -> Tensor:
        return head.loss_by_feat(logits, data_samples)['loss_ce']

    images = torch.stack([s['inputs'] for s in samples]).flip(1)  # BGR->RGB
    meta = dict(
        source='checkpoint',
        config=config,
        checkpoint=checkpoint,
        num_images=len(samples),
        input_shape=[list(f.shape) for f in inputs],
        image_paths=[s['data_samples'].img_path for s in samples],
        num_classes=head.num_classes)
    return HeadAndBatch(head, inputs, loss, images, meta)


def load_head(config: Optional[str] = None,
              checkpoint: Optional[str] = None,
              num_images: int = 2,
              size: Tuple[int, int] = (16, 16),
              seed: int = 0,
              cfg_options: Optional[dict] = None) -> HeadAndBatch:
    """A trained head on ``num_images`` val images (``config`` and
    ``checkpoint``), or the random head on random features of ``size``
    (neither); torch seeded with ``seed`` first."""
    torch.manual_seed(seed)
    if config:
        return load_trained(
            config, checkpoint, num_images, cfg_options=cfg_options)
    return random_head(height=size[0], width=size[1], seed=seed)
