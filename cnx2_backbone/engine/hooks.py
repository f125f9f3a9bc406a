"""Hooks for FCMAE pretraining: a non-finite loss guard, throughput logging, backbone export."""
import math
from pathlib import Path
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ..models.fcmae_export import export_backbone
from ..registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Raised by :class:`NonFiniteLossHook` to stop a run whose loss became NaN or infinite."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first iteration whose loss is NaN or infinite.

    The hook runs before ``CheckpointHook`` (priority ``ABOVE_NORMAL``
    against ``VERY_LOW``), so the iteration with the bad loss is never saved
    and the newest checkpoint on disk is the last good one. Under
    distributed training the check is reduced over all ranks, so every rank
    stops at the same iteration instead of waiting for the others.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        loss = outputs['loss']
        value = float(loss.detach().float().mean()) if isinstance(loss, torch.Tensor) \
            else float(loss)
        non_finite = torch.tensor([0.0 if math.isfinite(value) else 1.0])
        all_reduce(non_finite, op='max')
        if non_finite.item() == 0.0:
            return

        last_checkpoint = runner.message_hub.get_info('last_ckpt')
        if last_checkpoint:
            checkpoint_note = (f'The last good checkpoint is {last_checkpoint}; to continue, '
                               'lower the learning rate and pass --resume.')
        else:
            checkpoint_note = 'No checkpoint was saved before this iteration.'

        where = f'loss {value}' if not math.isfinite(value) else 'a non-finite loss on another rank'
        message = (f'Training stopped at iteration {runner.iter + 1}: {where}. '
                   f'Nothing was saved for this iteration. {checkpoint_note}')
        print_log(message, logger='current', level=40)
        raise NonFiniteLossError(message)


@HOOKS.register_module()
class ThroughputHook(Hook):
    """Log training throughput in images per second as ``images_per_s``.

    The value is the global batch size (per-rank batch times world size)
    divided by the mean iteration time of ``IterTimerHook`` over the last
    ``window_size`` iterations, data loading included.

    Args:
        window_size (int): Iterations to average over. Defaults to 10.
    """

    # After IterTimerHook (also NORMAL, registered earlier) and before LoggerHook.
    priority = 'NORMAL'

    def __init__(self, window_size: int = 10) -> None:
        if window_size < 1:
            raise ValueError(f'window_size must be positive, got {window_size}')
        self.window_size = window_size

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not data_batch or 'inputs' not in data_batch:
            return
        hub = runner.message_hub
        if 'train/time' not in hub.log_scalars:
            return
        seconds = hub.get_scalar('train/time').mean(self.window_size)
        if seconds <= 0:
            return
        images = len(data_batch['inputs']) * get_world_size()
        hub.update_scalar('train/images_per_s', images / seconds)


@HOOKS.register_module()
class ExportBackboneHook(Hook):
    """Write the FCMAE encoder as ConvNeXt V2 backbone weights when training ends.

    Only the main process writes. The file loads with
    ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``.

    Args:
        filename (str): Output file, relative to the work dir unless
            absolute. Defaults to ``'backbone.pth'``.
    """

    priority = 'LOW'

    def __init__(self, filename: str = 'backbone.pth') -> None:
        self.filename = filename

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        destination = Path(runner.work_dir) / self.filename
        export_backbone(model.state_dict(), destination)
        print_log(f'Backbone weights for init_cfg=dict(type="Pretrained", '
                  f'checkpoint="{destination}") are in {destination}.', logger='current')


__all__ = ['ExportBackboneHook', 'NonFiniteLossError', 'NonFiniteLossHook', 'ThroughputHook']
