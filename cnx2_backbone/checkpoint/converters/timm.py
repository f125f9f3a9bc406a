"""timm ``convnextv2_*`` layout (key names checked against timm 1.0).

timm names the stem ``stem``, puts each downsampling layer inside its stage
(``stages.{s}.downsample``), keeps blocks under ``stages.{s}.blocks`` with
``conv_dw``, ``norm`` and an ``mlp`` of ``fc1``, ``grn`` (``weight`` and
``bias`` of shape (C,)) and ``fc2``, and ends with ``head.norm`` and
``head.fc``. For atto, femto, pico and nano timm builds the MLP from 1x1
convolutions (``conv_mlp=True``), so ``fc1``/``fc2`` weights are
(out, in, 1, 1) there.
"""
from typing import Dict, Optional

import torch

from ...models.convnextv2 import ARCH_SETTINGS
from ..report import LoadReport
from .common import (OUTPUT_NORM, compile_rules, normalize_shapes, put, record_reshape,
                     rename_key, skip_reason_outside, stage_dims)

TO_CANONICAL = compile_rules((
    (r'stem\.([01])\.(weight|bias)', r'downsample_layers.0.\1.\2'),
    (r'stages\.(\d+)\.downsample\.([01])\.(weight|bias)', r'downsample_layers.\1.\2.\3'),
    (r'stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.(weight|bias)', r'stages.\1.\2.dwconv.\3'),
    (r'stages\.(\d+)\.blocks\.(\d+)\.norm\.(weight|bias)', r'stages.\1.\2.norm.\3'),
    (r'stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc([12])\.(weight|bias)', r'stages.\1.\2.pwconv\3.\4'),
    (r'stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.weight', r'stages.\1.\2.grn.gamma'),
    (r'stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.bias', r'stages.\1.\2.grn.beta'),
    (r'head\.norm\.(weight|bias)', r'norm.\1'),
    (r'head\.fc\.(weight|bias)', r'head.\1'),
))

FROM_CANONICAL = compile_rules((
    (r'downsample_layers\.0\.([01])\.(weight|bias)', r'stem.\1.\2'),
    (r'downsample_layers\.(\d+)\.([01])\.(weight|bias)', r'stages.\1.downsample.\2.\3'),
    (r'stages\.(\d+)\.(\d+)\.dwconv\.(weight|bias)', r'stages.\1.blocks.\2.conv_dw.\3'),
    (r'stages\.(\d+)\.(\d+)\.norm\.(weight|bias)', r'stages.\1.blocks.\2.norm.\3'),
    (r'stages\.(\d+)\.(\d+)\.pwconv([12])\.(weight|bias)', r'stages.\1.blocks.\2.mlp.fc\3.\4'),
    (r'stages\.(\d+)\.(\d+)\.grn\.gamma', r'stages.\1.blocks.\2.mlp.grn.weight'),
    (r'stages\.(\d+)\.(\d+)\.grn\.beta', r'stages.\1.blocks.\2.mlp.grn.bias'),
    (r'norm\.(weight|bias)', r'head.norm.\1'),
    (r'head\.(weight|bias)', r'head.fc.\1'),
))

# Arches that timm builds with a 1x1-conv MLP.
CONV_MLP_ARCHES = ('atto', 'femto', 'pico', 'nano')


def to_canonical(state_dict: Dict[str, torch.Tensor], prefix: str,
                 report: LoadReport) -> Dict[str, torch.Tensor]:
    """Rename timm keys under ``prefix`` to package keys and fix shapes.

    Keys under the prefix that match no rule keep their name, so that the
    loader reports them as unexpected.
    """
    result: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            report.skipped[key] = skip_reason_outside(key, prefix)
            continue
        relative = key[len(prefix):]
        put(result, key, rename_key(relative, TO_CANONICAL) or relative, value, report)
    return normalize_shapes(result, report)


def uses_conv_mlp(canonical: Dict[str, torch.Tensor]) -> bool:
    """Return True when timm builds these stage widths with a 1x1-conv MLP."""
    dims = stage_dims(canonical)
    return any(dims == tuple(ARCH_SETTINGS[name]['dims']) for name in CONV_MLP_ARCHES)


def from_canonical(canonical: Dict[str, torch.Tensor], report: LoadReport,
                   conv_mlp: Optional[bool] = None) -> Dict[str, torch.Tensor]:
    """Export package keys in the timm layout.

    Args:
        canonical (dict): Weights under package key names and shapes.
        report (LoadReport): Receives renamed, reshaped and skipped keys.
        conv_mlp (bool, optional): Store ``fc1``/``fc2`` as 1x1 convs. None
            chooses as timm does: True for the atto..nano widths.
    """
    if conv_mlp is None:
        conv_mlp = uses_conv_mlp(canonical)
    result: Dict[str, torch.Tensor] = {}
    for key, value in canonical.items():
        if OUTPUT_NORM.match(key):
            report.skipped[key] = 'backbone output norm; the timm layout has none'
            continue
        new_key = rename_key(key, FROM_CANONICAL)
        if new_key is None:
            report.skipped[key] = 'no counterpart in the timm layout'
            continue
        if conv_mlp and '.mlp.fc' in new_key and new_key.endswith('.weight'):
            shaped = value.reshape(*value.shape, 1, 1)  # (out, in) -> (out, in, 1, 1)
            record_reshape(report, new_key, value, shaped)
            value = shaped
        put(result, key, new_key, value, report)
    return result
