"""Optimizer wrappers that mmengine lacks."""
import contextlib
from typing import Any, Iterator, Optional

import torch
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from torch import nn

from ..registry import OPTIM_WRAPPERS

AUTOCAST_SCOPES = ('model', 'features')


def to_float32(value: Any) -> Any:
    """Cast the floating-point tensors in ``value`` (nested tuples, lists, dicts) to float32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(to_float32(item) for item in value)
    if isinstance(value, dict):
        return {key: to_float32(item) for key, item in value.items()}
    return value


@OPTIM_WRAPPERS.register_module()
class BFloat16OptimWrapper(OptimWrapper):
    """Optimizer wrapper that runs the forward pass under bfloat16 autocast.

    bfloat16 has float32's exponent range, so unlike float16 it needs no loss
    scaling; this makes mixed precision available on CPU, where mmengine's
    ``AmpOptimWrapper`` raises. Parameters and optimizer state stay float32.

    Args:
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; by default CUDA
            when it is available, else CPU.
        autocast_scope (str): ``'model'`` runs the whole forward under
            autocast. ``'features'`` runs only ``model.backbone`` and
            ``model.neck`` under autocast and hands float32 features to the
            heads: mmcv 2.1's CPU ops (RoIAlign, NMS) in detection heads
            reject bfloat16 tensors. Defaults to ``'model'``.
        **kwargs: Passed to ``OptimWrapper`` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, device_type: Optional[str] = None, autocast_scope: str = 'model',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if device_type is None:
            device_type = 'cuda' if torch.cuda.is_available() else 'cpu'
        if device_type not in ('cpu', 'cuda'):
            raise ValueError(f"device_type must be 'cpu' or 'cuda', got {device_type!r}")
        if autocast_scope not in AUTOCAST_SCOPES:
            raise ValueError(f'autocast_scope must be one of {AUTOCAST_SCOPES}, '
                             f'got {autocast_scope!r}')
        self.device_type = device_type
        self.autocast_scope = autocast_scope

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model):
            if self.autocast_scope == 'model':
                with torch.autocast(self.device_type, dtype=torch.bfloat16):
                    yield
            else:
                with self.feature_autocast(model):
                    yield

    @contextlib.contextmanager
    def feature_autocast(self, model: nn.Module) -> Iterator[None]:
        """Autocast from the backbone's input to the neck's output (or the backbone's)."""
        module = model.module if is_model_wrapper(model) else model
        backbone = getattr(module, 'backbone', None)
        if not isinstance(backbone, nn.Module):
            raise ValueError(f"autocast_scope='features' needs a model with a backbone; "
                             f'{type(module).__name__} has none.')
        neck = getattr(module, 'neck', None)
        last = neck if isinstance(neck, nn.Module) else backbone
        autocast = torch.autocast(self.device_type, dtype=torch.bfloat16)

        def enter(_module, _args):
            autocast.__enter__()

        def leave(_module, _args, output):
            autocast.__exit__(None, None, None)
            return to_float32(output)

        handles = [backbone.register_forward_pre_hook(enter), last.register_forward_hook(leave)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
