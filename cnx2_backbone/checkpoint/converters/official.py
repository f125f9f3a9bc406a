"""Official ConvNeXt V2 layouts: dense models and sparse FCMAE encoders.

Dense checkpoints (ImageNet fine-tuned, FCMAE pretrain-only, this package's
own) already use the package's key names. Only their GRN parameters differ,
with shape (1, 1, 1, C) instead of (C,).

The FCMAE pretraining model stores its encoder under ``encoder.`` with
MinkowskiEngine layers (official ``models/convnextv2_sparse.py``):

    downsample_layers.{i}.0.ln.{weight,bias}       LayerNorm wrapped as ``ln``
    downsample_layers.{i}.1.kernel, .bias          (k*k, C_in, C_out), (1, C_out)
    stages.{s}.{b}.dwconv.kernel, .bias            (k*k, C), (1, C)
    stages.{s}.{b}.norm.ln.{weight,bias}
    stages.{s}.{b}.pwconv{1,2}.linear.{weight,bias}   Linear wrapped as ``linear``
    stages.{s}.{b}.grn.{gamma,beta}                (1, C)

The stem (``downsample_layers.0``) is dense. ``decoder``, ``mask_token``,
``proj`` and ``pred`` belong to the decoder side and are skipped.
"""
import math
from typing import Dict

import torch

from ..report import LoadReport
from .common import (OUTPUT_NORM, compile_rules, normalize_shapes, put, record_reshape,
                     rename_key, skip_reason_outside)

SPARSE_RULES = compile_rules((
    (r'(downsample_layers\.\d+\.0)\.ln\.(weight|bias)', r'\1.\2'),
    (r'(stages\.\d+\.\d+\.norm)\.ln\.(weight|bias)', r'\1.\2'),
    (r'(stages\.\d+\.\d+\.pwconv[12])\.linear\.(weight|bias)', r'\1.\2'),
    (r'(downsample_layers\.\d+\.1)\.kernel', r'\1.weight'),
    (r'(stages\.\d+\.\d+\.dwconv)\.kernel', r'\1.weight'),
))


def dense_to_canonical(state_dict: Dict[str, torch.Tensor], prefix: str,
                       report: LoadReport) -> Dict[str, torch.Tensor]:
    """Strip ``prefix`` from dense official keys and fix GRN and bias shapes."""
    result: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            report.skipped[key] = skip_reason_outside(key, prefix)
            continue
        put(result, key, key[len(prefix):], value, report)
    return normalize_shapes(result, report)


def sparse_to_canonical(state_dict: Dict[str, torch.Tensor], prefix: str,
                        report: LoadReport) -> Dict[str, torch.Tensor]:
    """Convert a sparse FCMAE encoder to dense package keys and shapes."""
    result: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            report.skipped[key] = skip_reason_outside(key, prefix)
            continue
        relative = key[len(prefix):]
        new_key = rename_key(relative, SPARSE_RULES) or relative
        if relative.endswith('.kernel'):
            dense = sparse_kernel_to_dense(value, depthwise='.dwconv.' in relative, key=key)
            record_reshape(report, new_key, value, dense)
            value = dense
        put(result, key, new_key, value, report)
    return normalize_shapes(result, report)


def sparse_kernel_to_dense(kernel: torch.Tensor, depthwise: bool, key: str) -> torch.Tensor:
    """Turn a MinkowskiEngine kernel into an ``nn.Conv2d`` weight.

    A convolution kernel is stored as (k*k, C_in, C_out) and a depthwise one
    as (k*k, C). Offset ``w * k + h`` contains the weight of kernel row
    ``h`` and column ``w``, which is the order that the official ConvNeXt V2
    conversion uses (``remap_checkpoint_keys`` in its ``utils.py``).

    Returns (C_out, C_in, k, k), or (C, 1, k, k) for a depthwise kernel.
    """
    expected_ndim = 2 if depthwise else 3
    if kernel.ndim != expected_ndim:
        raise ValueError(f'{key} has shape {tuple(kernel.shape)}; a sparse '
                         f'{"depthwise " if depthwise else ""}kernel has {expected_ndim} dims.')
    size = math.isqrt(kernel.shape[0])
    if size * size != kernel.shape[0]:
        raise ValueError(f'Invalid sparse kernel {key}: {kernel.shape[0]} offsets is not a '
                         'square k*k.')
    if depthwise:
        by_offset = kernel.reshape(size, size, kernel.shape[1])  # (k*k, C) -> (w, h, C)
        return by_offset.permute(2, 1, 0).unsqueeze(1).contiguous()  # -> (C, 1, h, w)
    by_offset = kernel.reshape(size, size, kernel.shape[1], kernel.shape[2])  # -> (w, h, in, out)
    return by_offset.permute(3, 2, 1, 0).contiguous()  # -> (out, in, h, w)


def canonical_to_official(canonical: Dict[str, torch.Tensor],
                          report: LoadReport) -> Dict[str, torch.Tensor]:
    """Export package keys in the official dense layout, GRN as (1, 1, 1, C).

    The backbone output norms ``norm{i}`` have no place in that layout and
    are skipped.
    """
    result: Dict[str, torch.Tensor] = {}
    for key, value in canonical.items():
        if OUTPUT_NORM.match(key):
            report.skipped[key] = 'backbone output norm; the official layout has none'
            continue
        if key.endswith(('grn.gamma', 'grn.beta')):
            shaped = value.reshape(1, 1, 1, -1)
            record_reshape(report, key, value, shaped)
            value = shaped
        result[key] = value
    return result
