"""Plumbing shared by the command-line tools: config, launcher, AMP, resume.

The tools in ``tools/`` parse arguments and call into this module, which
builds an mmengine ``Runner`` that works on CPU-only machines too:

* ``--launcher pytorch`` without CUDA creates a gloo process group before
  the Runner and wraps the model with ``device_ids=None``, because mmengine
  0.10's own launcher calls ``torch.cuda.set_device`` unconditionally.
* ``--amp`` picks mmengine's ``AmpOptimWrapper`` (float16 with loss scaling)
  on GPU and :class:`~cnx2_backbone.engine.BFloat16OptimWrapper` on CPU,
  where ``AmpOptimWrapper`` raises.
* ``--resume`` and ``tools/test.py`` load the Runner's own checkpoints with
  ``torch.load(weights_only=True)`` plus an allowlist of the few mmengine and
  NumPy types that those checkpoints pickle, because torch 2.6 and newer
  reject them by default. Nothing else is unpickled.
"""
import argparse
import contextlib
import os
import pickle
from pathlib import Path
from typing import Iterator, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

LAUNCHERS = ('none', 'pytorch')


def add_runner_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options every training and testing tool shares."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 AMP on GPU, bfloat16 autocast on CPU')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='"pytorch" for torchrun (gloo on CPU, nccl on GPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. train_cfg.max_iters=20')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    return parser


def add_resume_arg(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--resume [CKPT]``: without a path, resume from the work dir's latest checkpoint."""
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='continue an interrupted run from CKPT, or from the latest '
                        'checkpoint in the work dir when no path is given')
    return parser


def build_config(config_path: str, args: argparse.Namespace) -> Config:
    """Load ``config_path`` and apply the shared command-line options."""
    if not Path(config_path).is_file():
        raise FileNotFoundError(f'Config file not found: {config_path}')
    cfg = Config.fromfile(config_path)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = str(Path('work_dirs') / Path(config_path).stem)

    if getattr(args, 'amp', False):
        enable_amp(cfg)
    else:
        replace_gpu_only_amp(cfg)

    resume = getattr(args, 'resume', None)
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not Path(resume).is_file():
            raise FileNotFoundError(f'Checkpoint to resume from not found: {resume}')
        cfg.resume = True
        cfg.load_from = resume
    return cfg


def enable_amp(cfg: Config) -> None:
    """Switch the config's optimizer wrapper to mixed precision for this machine."""
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        raise ValueError('--amp needs an optim_wrapper in the config; this config has none.')
    current = optim_wrapper.get('type', 'OptimWrapper')
    if current not in ('OptimWrapper', 'AmpOptimWrapper', 'cnx2_backbone.BFloat16OptimWrapper'):
        raise ValueError(f'--amp replaces the optimizer wrapper, but the config uses '
                         f'{current!r}; set the precision in the config instead.')
    if torch.cuda.is_available():
        optim_wrapper.type = 'AmpOptimWrapper'
        optim_wrapper.setdefault('loss_scale', 'dynamic')
        print_log('AMP: float16 autocast with dynamic loss scaling (AmpOptimWrapper).',
                  logger='current')
    else:
        use_cpu_bfloat16(cfg)
        print_log('AMP on CPU: bfloat16 autocast (BFloat16OptimWrapper); mmengine\'s '
                  'AmpOptimWrapper supports only GPU-like devices.', logger='current')


def use_cpu_bfloat16(cfg: Config) -> None:
    """Set the config's optimizer wrapper to bfloat16 autocast on CPU.

    For mmdet models only the backbone and neck are autocast, because mmcv
    2.1's CPU RoIAlign and NMS in the heads reject bfloat16 tensors.
    """
    optim_wrapper = cfg.optim_wrapper
    optim_wrapper.type = 'cnx2_backbone.BFloat16OptimWrapper'
    optim_wrapper.pop('loss_scale', None)
    if cfg.get('default_scope') == 'mmdet':
        optim_wrapper.autocast_scope = 'features'


def replace_gpu_only_amp(cfg: Config) -> None:
    """Swap a config's ``AmpOptimWrapper`` for bfloat16 autocast when there is no GPU."""
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None or optim_wrapper.get('type') != 'AmpOptimWrapper':
        return
    if torch.cuda.is_available():
        return
    use_cpu_bfloat16(cfg)
    print_log('The config asks for AmpOptimWrapper, which needs a GPU; using bfloat16 '
              'autocast on CPU instead.', logger='current', level=30)


def setup_cpu_distributed(cfg: Config) -> None:
    """Create the gloo process group for ``--launcher pytorch`` on a CPU-only machine.

    mmengine then finds an initialized group and skips its own launcher. GPU
    runs are left to mmengine.
    """
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    missing = [name for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if name not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs the variables {missing} that torchrun '
                           'sets; start the tool with `torchrun --nproc_per_node N tools/...`.')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper_cfg = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
    wrapper_cfg['device_ids'] = None
    wrapper_cfg.setdefault('broadcast_buffers', False)
    wrapper_cfg.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper_cfg


HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


def history_buffer_statistic(owner: type, name: str):
    """Stand in for ``builtins.getattr`` while unpickling Runner checkpoints.

    Each mmengine ``HistoryBuffer`` pickles its statistics functions as
    ``getattr(HistoryBuffer, name)``. Allowing the real ``getattr`` would let
    a file read any attribute of any allowed object. This stand-in resolves only
    those four methods and raises for everything else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    if owner is not HistoryBuffer or name not in HISTORY_BUFFER_STATISTICS:
        raise pickle.UnpicklingError(
            f'Checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer '
            f'methods {HISTORY_BUFFER_STATISTICS} are allowed.')
    return getattr(owner, name)


def runner_checkpoint_globals() -> list:
    """Return the non-tensor types that mmengine's Runner pickles into checkpoints."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct,
               np.core.multiarray.scalar, (history_buffer_statistic, 'builtins.getattr')]
    # NumPy >= 1.25 pickles dtypes through per-type classes such as Float64DType.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return allowed


@contextlib.contextmanager
def runner_checkpoint_loading() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` read mmengine Runner checkpoints."""
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        yield


def build_runner(cfg: Config) -> Runner:
    """Build the Runner named by ``cfg`` (``runner_type`` or mmengine's default)."""
    # Imported for registration: scoped types in configs resolve through it.
    import cnx2_backbone.engine  # noqa: F401

    setup_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def train(cfg: Config) -> Runner:
    """Build a Runner from ``cfg`` and train it; returns the finished Runner."""
    runner = build_runner(cfg)
    with runner_checkpoint_loading():
        runner.train()
    return runner


def test(cfg: Config, checkpoint: Optional[str]) -> dict:
    """Evaluate ``checkpoint`` on the config's test split and return the metrics."""
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f'Checkpoint not found: {checkpoint}')
        cfg.load_from = checkpoint
    runner = build_runner(cfg)
    with runner_checkpoint_loading():
        return runner.test()
