"""Builders of checkpoints in foreign layouts, written from the layout descriptions.

These are test oracles: they produce each layout independently of the
converters in ``cnx2_backbone.checkpoint`` so that a mistake on either side
shows up as a failed comparison.
"""
from typing import Dict

import torch
from torch import nn

# Small arch for fast layout tests; the parity tests cover the real sizes.
SMALL_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))
SMALL_DIMS = SMALL_ARCH['dims']


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0, matrices: bool = True) -> nn.Module:
    """Give parameters random values, so that no mapping hides behind zeros or ones.

    GRN parameters, zero at init in every implementation, get 0.5 N(0, 1),
    norm scales 1 + 0.1 N(0, 1), biases and (with ``matrices``) conv and
    linear weights 0.02 N(0, 1). ``matrices=False`` keeps the model's own
    random weight init, which saves time on the large sizes.
    """
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        is_matrix = sum(size > 1 for size in param.shape) > 1
        if is_matrix and not matrices:
            continue
        noise = torch.randn(param.shape, generator=generator)
        if '.grn.' in name:
            param.copy_(0.5 * noise)
        elif name.endswith('weight') and param.ndim == 1:
            param.copy_(1.0 + 0.1 * noise)
        else:
            param.copy_(0.02 * noise)
    return model


def clone_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def to_official(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Package weights as an official checkpoint stores them: GRN as (1, 1, 1, C)."""
    return {key: value.reshape(1, 1, 1, -1) if '.grn.' in key else value.clone()
            for key, value in state.items()}


def dense_to_sparse_kernel(weight: torch.Tensor) -> torch.Tensor:
    """MinkowskiEngine kernel of an ``nn.Conv2d`` weight: offset w * k + h.

    (out, in, k, k) becomes (k*k, in, out); a depthwise (C, 1, k, k) weight
    becomes (k*k, C).
    """
    out_channels, in_channels, size, _ = weight.shape
    depthwise = in_channels == 1
    offsets = []
    for w in range(size):
        for h in range(size):
            tap = weight[:, :, h, w]  # (out, in)
            offsets.append(tap[:, 0] if depthwise else tap.t())
    return torch.stack(offsets)


def to_sparse_fcmae(dense: Dict[str, torch.Tensor], decoder_dim: int = 16,
                    patch_size: int = 32) -> Dict[str, torch.Tensor]:
    """Full official FCMAE state dict with a sparse encoder built from ``dense``.

    ``dense`` contains package trunk keys (no norm or head). Adds a one-block
    decoder, the mask token, ``proj`` and ``pred`` as the official model has.
    """
    sparse = {}
    for key, value in dense.items():
        parts = key.split('.')
        if key.startswith('downsample_layers.0.'):
            new_key, new_value = key, value.clone()
        elif key.startswith('downsample_layers.') and parts[2] == '0':
            new_key, new_value = f'downsample_layers.{parts[1]}.0.ln.{parts[3]}', value.clone()
        elif key.startswith('downsample_layers.') and parts[3] == 'weight':
            new_key = f'downsample_layers.{parts[1]}.1.kernel'
            new_value = dense_to_sparse_kernel(value)
        elif key.startswith('downsample_layers.'):
            new_key, new_value = key, value.reshape(1, -1).clone()
        elif parts[3] == 'dwconv' and parts[4] == 'weight':
            new_key = '.'.join(parts[:4] + ['kernel'])
            new_value = dense_to_sparse_kernel(value)
        elif parts[3] == 'dwconv':
            new_key, new_value = key, value.reshape(1, -1).clone()
        elif parts[3] == 'norm':
            new_key, new_value = '.'.join(parts[:4] + ['ln', parts[4]]), value.clone()
        elif parts[3] in ('pwconv1', 'pwconv2'):
            new_key, new_value = '.'.join(parts[:4] + ['linear', parts[4]]), value.clone()
        elif parts[3] == 'grn':
            new_key, new_value = key, value.reshape(1, -1).clone()
        else:
            raise AssertionError(f'unexpected dense key {key}')
        sparse['encoder.' + new_key] = new_value

    last_dim = dense['stages.3.0.dwconv.weight'].shape[0]
    sparse['proj.weight'] = torch.randn(decoder_dim, last_dim, 1, 1)
    sparse['proj.bias'] = torch.randn(decoder_dim)
    sparse['mask_token'] = torch.randn(1, decoder_dim, 1, 1)
    sparse['decoder.0.dwconv.weight'] = torch.randn(decoder_dim, 1, 7, 7)
    sparse['decoder.0.grn.gamma'] = torch.randn(1, 1, 1, 4 * decoder_dim)
    sparse['pred.weight'] = torch.randn(patch_size * patch_size * 3, decoder_dim, 1, 1)
    sparse['pred.bias'] = torch.randn(patch_size * patch_size * 3)
    return sparse


def to_mmpretrain(state: Dict[str, torch.Tensor],
                  classifier: bool = True) -> Dict[str, torch.Tensor]:
    """mmpretrain ConvNeXt (use_grn=True) state dict of package weights.

    A classifier's ``norm``/``head`` become ``backbone.norm3`` and ``head.fc``;
    backbone output norms ``norm{i}`` keep their names under ``backbone.``.
    """
    converted = {}
    for key, value in state.items():
        if key.startswith('head.'):
            converted['head.fc.' + key.split('.')[-1]] = value.clone()
            continue
        if key.startswith('norm.') and classifier:
            new_key = 'norm3.' + key.split('.')[-1]
        else:
            new_key = (key.replace('.dwconv.', '.depthwise_conv.')
                       .replace('.pwconv1.', '.pointwise_conv1.')
                       .replace('.pwconv2.', '.pointwise_conv2.'))
        converted['backbone.' + new_key] = value.clone()
    return converted


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()
