"""Hugging Face transformers ``ConvNextV2`` layout (checked against transformers 5).

``ConvNextV2ForImageClassification`` keeps the trunk under ``convnextv2.``:

    embeddings.patch_embeddings, embeddings.layernorm      stem
    encoder.stages.{s}.downsampling_layer.{0,1}           downsampling (s >= 1)
    encoder.stages.{s}.layers.{b}.dwconv, .layernorm, .pwconv1, .grn, .pwconv2
    layernorm                                             final norm

The head ``classifier`` sits beside the prefix. GRN parameters are
``weight`` and ``bias`` of shape (1, 1, 1, C), and some exports name them
``gamma`` and ``beta``. ``ConvNextV2Model`` and ``ConvNextV2Backbone`` save
the same trunk without the prefix. The backbone adds the per-stage norms
``hidden_states_norms.stage{1..4}``.
"""
from typing import Dict

import torch

from ..report import LoadReport
from .common import (OUTPUT_NORM, compile_rules, normalize_shapes, put, record_reshape,
                     rename_key, skip_reason_outside)

MODEL_PREFIX = 'convnextv2.'

TO_CANONICAL = compile_rules((
    (r'embeddings\.patch_embeddings\.(weight|bias)', r'downsample_layers.0.0.\1'),
    (r'embeddings\.layernorm\.(weight|bias)', r'downsample_layers.0.1.\1'),
    (r'encoder\.stages\.(\d+)\.downsampling_layer\.([01])\.(weight|bias)',
     r'downsample_layers.\1.\2.\3'),
    (r'encoder\.stages\.(\d+)\.layers\.(\d+)\.dwconv\.(weight|bias)', r'stages.\1.\2.dwconv.\3'),
    (r'encoder\.stages\.(\d+)\.layers\.(\d+)\.layernorm\.(weight|bias)', r'stages.\1.\2.norm.\3'),
    (r'encoder\.stages\.(\d+)\.layers\.(\d+)\.pwconv([12])\.(weight|bias)',
     r'stages.\1.\2.pwconv\3.\4'),
    (r'encoder\.stages\.(\d+)\.layers\.(\d+)\.grn\.(?:weight|gamma)', r'stages.\1.\2.grn.gamma'),
    (r'encoder\.stages\.(\d+)\.layers\.(\d+)\.grn\.(?:bias|beta)', r'stages.\1.\2.grn.beta'),
    (r'layernorm\.(weight|bias)', r'norm.\1'),
    (r'hidden_states_norms\.stage(\d+)\.(weight|bias)',
     lambda match: f'norm{int(match[1]) - 1}.{match[2]}'),
))

FROM_CANONICAL = compile_rules((
    (r'downsample_layers\.0\.0\.(weight|bias)', r'embeddings.patch_embeddings.\1'),
    (r'downsample_layers\.0\.1\.(weight|bias)', r'embeddings.layernorm.\1'),
    (r'downsample_layers\.(\d+)\.([01])\.(weight|bias)',
     r'encoder.stages.\1.downsampling_layer.\2.\3'),
    (r'stages\.(\d+)\.(\d+)\.dwconv\.(weight|bias)', r'encoder.stages.\1.layers.\2.dwconv.\3'),
    (r'stages\.(\d+)\.(\d+)\.norm\.(weight|bias)', r'encoder.stages.\1.layers.\2.layernorm.\3'),
    (r'stages\.(\d+)\.(\d+)\.pwconv([12])\.(weight|bias)',
     r'encoder.stages.\1.layers.\2.pwconv\3.\4'),
    (r'stages\.(\d+)\.(\d+)\.grn\.gamma', r'encoder.stages.\1.layers.\2.grn.weight'),
    (r'stages\.(\d+)\.(\d+)\.grn\.beta', r'encoder.stages.\1.layers.\2.grn.bias'),
    (r'norm\.(weight|bias)', r'layernorm.\1'),
    (r'norm(\d+)\.(weight|bias)', lambda match: f'hidden_states_norms.stage{int(match[1]) + 1}.'
                                                f'{match[2]}'),
))

HEAD_RULE = compile_rules(((r'classifier\.(weight|bias)', r'head.\1'),))


def to_canonical(state_dict: Dict[str, torch.Tensor], prefix: str,
                 report: LoadReport) -> Dict[str, torch.Tensor]:
    """Rename Hugging Face keys to package keys and fix GRN shapes.

    ``prefix`` is the part before ``embeddings``/``encoder`` (usually
    ``'convnextv2.'``); the classifier is looked up beside it.
    """
    outer = prefix[:-len(MODEL_PREFIX)] if prefix.endswith(MODEL_PREFIX) else prefix
    result: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(outer):
            head_key = rename_key(key[len(outer):], HEAD_RULE)
            if head_key is not None:
                put(result, key, head_key, value, report)
                continue
        if not key.startswith(prefix):
            report.skipped[key] = skip_reason_outside(key, prefix)
            continue
        relative = key[len(prefix):]
        put(result, key, rename_key(relative, TO_CANONICAL) or relative, value, report)
    return normalize_shapes(result, report)


def from_canonical(canonical: Dict[str, torch.Tensor],
                   report: LoadReport) -> Dict[str, torch.Tensor]:
    """Export package keys in a Hugging Face layout, GRN as (1, 1, 1, C).

    Weights with backbone output norms become a ``ConvNextV2Backbone`` state
    dict (no prefix, ``hidden_states_norms``), where a final norm or head has
    no place and is skipped. All others become a
    ``ConvNextV2ForImageClassification`` state dict (``convnextv2.`` prefix,
    ``classifier``), which ``ConvNextV2Model`` also loads when there is no head.
    """
    as_backbone = any(OUTPUT_NORM.match(key) for key in canonical)
    result: Dict[str, torch.Tensor] = {}
    for key, value in canonical.items():
        if as_backbone and key.startswith(('norm.', 'head.')):
            report.skipped[key] = ('classifier part; the ConvNextV2Backbone layout, chosen '
                                   'because of the output norms, has none')
            continue
        if key.startswith('head.'):
            put(result, key, 'classifier.' + key[len('head.'):], value, report)
            continue
        new_key = rename_key(key, FROM_CANONICAL)
        if new_key is None:
            report.skipped[key] = 'no counterpart in the Hugging Face layout'
            continue
        if not as_backbone:
            new_key = MODEL_PREFIX + new_key
        if key.endswith(('grn.gamma', 'grn.beta')):
            shaped = value.reshape(1, 1, 1, -1)
            record_reshape(report, new_key, value, shaped)
            value = shaped
        put(result, key, new_key, value, report)
    return result
