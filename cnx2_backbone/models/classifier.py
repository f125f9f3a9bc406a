"""ConvNeXt V2 image classifier: stages, global average pool, LayerNorm, Linear."""
from typing import Optional, Union

import torch
from torch import nn

from ..registry import MODELS
from .convnextv2 import NUM_STAGES, ConvNeXtV2Stages


@MODELS.register_module()
class ConvNeXtV2Classifier(ConvNeXtV2Stages):
    """ConvNeXt V2 with its native classification head.

    Key names match the official fine-tuned checkpoints (``norm``, ``head``).

    Args:
        arch (str | dict): One of ``atto, femto, pico, nano, tiny, base,
            large, huge`` or a dict with ``depths`` and ``dims``.
            Defaults to ``'tiny'``.
        num_classes (int): Number of output logits. Defaults to 1000.
        drop_path_rate (float): Stochastic depth rate of the last block.
            Defaults to 0.
        head_init_scale (float): Factor applied to the initial head weight and
            bias; small values (e.g. 0.001) help fine-tuning from a
            pretrained trunk. Defaults to 1.
        in_channels (int): Input image channels. Defaults to 3.
        with_cp (bool): Gradient checkpointing per block. Defaults to False.
        channels_last (bool): Run in channels_last memory format.
            Defaults to True.
        init_cfg (dict | list[dict], optional): mmengine initialization config.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 num_classes: int = 1000,
                 drop_path_rate: float = 0.0,
                 head_init_scale: float = 1.0,
                 in_channels: int = 3,
                 with_cp: bool = False,
                 channels_last: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(arch=arch, in_channels=in_channels, drop_path_rate=drop_path_rate,
                         with_cp=with_cp, channels_last=channels_last, init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'num_classes must be a positive int, got {num_classes!r}')
        self.num_classes = num_classes
        self.norm = nn.LayerNorm(self.dims[-1], eps=1e-6)
        self.head = nn.Linear(self.dims[-1], num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.weight.mul_(head_init_scale)
            self.head.bias.mul_(head_init_scale)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, C_in, H, W) to pooled, normalized features (N, dims[-1])."""
        self.check_input(x)
        x = self.to_memory_format(x)
        for i in range(NUM_STAGES):
            x = self.forward_stage(x, i)
        return self.norm(x.mean(dim=(2, 3)))  # (N, C, H, W) -> (N, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, C_in, H, W) to logits (N, num_classes)."""
        return self.head(self.forward_features(x))
