"""ConvNeXt V2 stages and the detection / segmentation backbone.

Parameter names follow the official ConvNeXt V2 code (``downsample_layers``,
``stages``, ``dwconv``, ``pwconv1``, ``grn.gamma``), so its checkpoints load
without renaming; other layouts are converted by ``cnx2_backbone.checkpoint``.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers import GRN, DropPath, LayerNorm2d
from ..registry import MODELS

# Depths and widths of the ConvNeXt V2 paper (Woo et al., 2023, Table 12).
ARCH_SETTINGS: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'atto': dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320)),
    'femto': dict(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384)),
    'pico': dict(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512)),
    'nano': dict(depths=(2, 2, 8, 2), dims=(80, 160, 320, 640)),
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
    'huge': dict(depths=(3, 3, 27, 3), dims=(352, 704, 1408, 2816)),
}

NUM_STAGES = 4
# Total downsampling of the last stage: stem 4 x three 2x2 reductions.
MIN_INPUT_SIZE = 32


def resolve_arch(arch: Union[str, dict]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Return ``(depths, dims)`` for an arch name or a dict with both keys.

    Raises:
        ValueError: for an unknown name, missing keys, or lengths other than 4.
    """
    if isinstance(arch, str):
        name = arch.lower()
        if name.startswith('convnextv2_'):
            name = name[len('convnextv2_'):]
        if name not in ARCH_SETTINGS:
            raise ValueError(f'Unknown ConvNeXt V2 arch {arch!r}; expected one of '
                             f'{sorted(ARCH_SETTINGS)} or a dict with "depths" and "dims".')
        setting = ARCH_SETTINGS[name]
        return tuple(setting['depths']), tuple(setting['dims'])
    if isinstance(arch, dict):
        missing = {'depths', 'dims'} - set(arch)
        if missing:
            raise ValueError(f'Custom arch {arch!r} is missing {sorted(missing)}; '
                             'give e.g. dict(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320)).')
        depths = tuple(int(d) for d in arch['depths'])
        dims = tuple(int(d) for d in arch['dims'])
        if len(depths) != NUM_STAGES or len(dims) != NUM_STAGES:
            raise ValueError(f'Custom arch needs {NUM_STAGES} depths and {NUM_STAGES} dims, '
                             f'got depths={depths} and dims={dims}.')
        if min(depths) < 1 or min(dims) < 1:
            raise ValueError(f'Custom arch needs positive depths and dims, '
                             f'got depths={depths} and dims={dims}.')
        return depths, dims
    raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}: {arch!r}')


class Block(nn.Module):
    """ConvNeXt V2 block.

    7x7 depthwise conv, LayerNorm, Linear to 4C, GELU, GRN, Linear back to C,
    drop path and the residual connection. The pointwise part runs
    channels-last, where ``nn.Linear`` acts on the channel dimension.

    Args:
        dim (int): Number of channels C.
        drop_path_rate (float): Stochastic depth probability. Defaults to 0.
        mlp_ratio (int): Hidden width of the MLP as a multiple of C.
            Defaults to 4.
    """

    def __init__(self, dim: int, drop_path_rate: float = 0.0, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, mlp_ratio * dim)
        self.act = nn.GELU()
        self.grn = GRN(mlp_ratio * dim)
        self.pwconv2 = nn.Linear(mlp_ratio * dim, dim)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (N, C, H, W) to (N, C, H, W)."""
        shortcut = x
        x = self.dwconv(x)
        # With channels_last memory format this permute is a free view.
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.norm(x)
        x = self.pwconv1(x)
        x = self.act(x)
        x = self.grn(x)
        x = self.pwconv2(x)
        x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        return shortcut + self.drop_path(x)


class ConvNeXtV2Stages(BaseModule):
    """Stem, four stages of blocks and the downsampling layers between them.

    The shared trunk of :class:`ConvNeXtV2` and ``ConvNeXtV2Classifier``.
    ``downsample_layers[0]`` is the stem (4x4 stride-4 conv, LayerNorm);
    ``downsample_layers[i]`` for i >= 1 is LayerNorm then a 2x2 stride-2 conv.

    Args:
        arch (str | dict): One of ``atto, femto, pico, nano, tiny, base,
            large, huge`` or a dict with ``depths`` and ``dims`` (4 each).
            Defaults to ``'tiny'``.
        in_channels (int): Input image channels. Defaults to 3.
        drop_path_rate (float): Stochastic depth rate of the last block; it
            grows linearly from 0 over all blocks. Defaults to 0.
        with_cp (bool): Use gradient checkpointing per block in training to
            save memory at the cost of a second forward. Defaults to False.
        channels_last (bool): Run in channels_last memory format, which
            turns the permutes around the pointwise layers into free views.
            Values are unchanged. Defaults to True.
        init_cfg (dict | list[dict], optional): mmengine initialization config.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 channels_last: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        if in_channels < 1:
            raise ValueError(f'in_channels must be positive, got {in_channels}')
        self.depths, self.dims = resolve_arch(arch)
        self.in_channels = in_channels
        self.with_cp = with_cp
        self.channels_last = channels_last

        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(
            nn.Conv2d(in_channels, self.dims[0], kernel_size=4, stride=4),
            LayerNorm2d(self.dims[0]),
        ))
        for i in range(1, NUM_STAGES):
            self.downsample_layers.append(nn.Sequential(
                LayerNorm2d(self.dims[i - 1]),
                nn.Conv2d(self.dims[i - 1], self.dims[i], kernel_size=2, stride=2),
            ))

        # Plain Python so that building on the meta device works too.
        num_blocks = sum(self.depths)
        block_rates = [drop_path_rate * i / max(num_blocks - 1, 1) for i in range(num_blocks)]
        self.stages = nn.ModuleList()
        first_block = 0
        for depth, dim in zip(self.depths, self.dims):
            self.stages.append(nn.Sequential(*[
                Block(dim, drop_path_rate=block_rates[first_block + j]) for j in range(depth)
            ]))
            first_block += depth

        self._init_layer_weights()

    def _init_layer_weights(self) -> None:
        # Truncated normal (std 0.02) for convs and linears, as the official code.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def init_weights(self) -> None:
        """Load ``init_cfg`` weights; ``Pretrained`` goes through the format-detecting loader."""
        init_cfg = self.init_cfg
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            # Imported here because cnx2_backbone.checkpoint imports this module.
            from ..checkpoint import load_pretrained
            load_pretrained(self, init_cfg['checkpoint'], strict=False,
                            prefix=init_cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is (N, in_channels, H, W) with H, W >= 32."""
        if x.ndim != 4:
            raise ValueError(f'Expected a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}.')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'Expected {self.in_channels} input channels, got shape '
                             f'{tuple(x.shape)}; set in_channels={x.shape[1]} to accept it.')
        if min(x.shape[2:]) < MIN_INPUT_SIZE:
            raise ValueError(f'Input size {tuple(x.shape[2:])} is too small: height and width '
                             f'must be at least {MIN_INPUT_SIZE} (the total stride).')

    def forward_stage(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """Run downsampling layer ``index`` and stage ``index`` on NCHW input."""
        x = self.downsample_layers[index](x)
        if self.with_cp and self.training and x.requires_grad:
            for block in self.stages[index]:
                x = checkpoint(block, x, use_reentrant=False)
            return x
        return self.stages[index](x)

    def to_memory_format(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x


@MODELS.register_module()
class ConvNeXtV2(ConvNeXtV2Stages):
    """ConvNeXt V2 backbone returning a feature pyramid for detection necks.

    Each returned stage output goes through its own channel LayerNorm
    (``norm0`` to ``norm3``), as FPN-style necks expect. For an input of
    size (H, W) stage i has ``dims[i]`` channels and size
    ``(floor(H / 2**(i+2)), floor(W / 2**(i+2)))``: the stride-4 stem and the
    stride-2 downsampling convs drop trailing rows and columns, so for sizes
    that are not multiples of 32 the last pixels reach only the earlier stages.

    Args:
        arch (str | dict): One of ``atto, femto, pico, nano, tiny, base,
            large, huge`` or a dict with ``depths`` and ``dims`` (4 each).
            Defaults to ``'tiny'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose outputs are returned,
            any subset of 0..3; negative indices count from the end.
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k in 1..4 the
            stem, stages 0..k-1 with their downsampling layers and output
            norms. Frozen parts keep ``requires_grad=False`` and stay in eval
            mode after ``train()``. Defaults to -1.
        drop_path_rate (float): Stochastic depth rate of the last block;
            linear from 0 over all blocks. Defaults to 0.
        with_cp (bool): Gradient checkpointing per block. Defaults to False.
        channels_last (bool): Run in channels_last memory format. Values are
            unchanged. Defaults to True.
        init_cfg (dict | list[dict], optional): mmengine initialization config;
            ``dict(type='Pretrained', checkpoint=PATH)`` loads any checkpoint
            layout that ``cnx2_backbone.load_pretrained`` detects.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 channels_last: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(arch=arch, in_channels=in_channels, drop_path_rate=drop_path_rate,
                         with_cp=with_cp, channels_last=channels_last, init_cfg=init_cfg)
        self.out_indices = self._resolve_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= NUM_STAGES:
            raise ValueError(f'frozen_stages must be an int in -1..{NUM_STAGES}, '
                             f'got {frozen_stages!r}')
        self.frozen_stages = frozen_stages
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(self.dims[i]))
        self._freeze_stages()

    @staticmethod
    def _resolve_out_indices(out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        if not isinstance(out_indices, (list, tuple)) or len(out_indices) == 0:
            raise ValueError(f'out_indices must be a non-empty int sequence, got {out_indices!r}')
        resolved = []
        for index in out_indices:
            if not isinstance(index, int) or not -NUM_STAGES <= index < NUM_STAGES:
                raise ValueError(f'Invalid out_indices entry {index!r} in {out_indices!r}: '
                                 f'use 0..{NUM_STAGES - 1} or -{NUM_STAGES}..-1.')
            resolved.append(index % NUM_STAGES)
        if len(set(resolved)) != len(resolved):
            raise ValueError(f'out_indices {out_indices!r} name a stage twice.')
        return tuple(sorted(resolved))

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.downsample_layers[0]
        for i in range(self.frozen_stages):
            if i > 0:
                yield self.downsample_layers[i]
            yield self.stages[i]
            if i in self.out_indices:
                yield getattr(self, f'norm{i}')

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ConvNeXtV2':
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Map images (N, C_in, H, W) to a tuple of normalized NCHW maps.

        Returns one map per entry of ``out_indices``, in stage order, with
        ``dims[i]`` channels at stride ``2**(i+2)``.
        """
        self.check_input(x)
        x = self.to_memory_format(x)
        outputs = []
        for i in range(NUM_STAGES):
            x = self.forward_stage(x, i)
            if i in self.out_indices:
                outputs.append(getattr(self, f'norm{i}')(x))
            if i == self.out_indices[-1]:
                break
        return tuple(outputs)

    def forward_stages(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the raw output of every stage, before the output norms."""
        self.check_input(x)
        x = self.to_memory_format(x)
        outputs = []
        for i in range(NUM_STAGES):
            x = self.forward_stage(x, i)
            outputs.append(x)
        return tuple(outputs)


def log_arch(model: ConvNeXtV2Stages) -> None:
    """Log depths, dims and the parameter count of a model at info level."""
    params = sum(p.numel() for p in model.parameters())
    print_log(f'{type(model).__name__}: depths={model.depths}, dims={model.dims}, '
              f'{params / 1e6:.2f}M parameters', logger='current')
