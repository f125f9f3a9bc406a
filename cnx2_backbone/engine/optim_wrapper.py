"""Optimizer wrappers that mmengine lacks."""
import contextlib
from typing import Iterator, Optional

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from ..registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BFloat16OptimWrapper(OptimWrapper):
    """Optimizer wrapper that runs the forward pass under bfloat16 autocast.

    bfloat16 has float32's exponent range, so unlike float16 it needs no loss
    scaling; this makes mixed precision available on CPU, where mmengine's
    ``AmpOptimWrapper`` raises. Parameters and optimizer state stay float32.

    Args:
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; by default CUDA
            when it is available, else CPU.
        **kwargs: Passed to ``OptimWrapper`` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, device_type: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if device_type is None:
            device_type = 'cuda' if torch.cuda.is_available() else 'cpu'
        if device_type not in ('cpu', 'cuda'):
            raise ValueError(f"device_type must be 'cpu' or 'cuda', got {device_type!r}")
        self.device_type = device_type

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast(self.device_type, dtype=torch.bfloat16):
            yield
