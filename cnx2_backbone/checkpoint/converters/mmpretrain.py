"""mmpretrain ``ConvNeXt`` with ``use_grn=True`` (its ConvNeXt V2 configs).

The backbone sits under ``backbone.``:

    downsample_layers.{i}.{0,1}                          as in the official code
    stages.{s}.{b}.depthwise_conv, .norm, .pointwise_conv1, .pointwise_conv2
    stages.{s}.{b}.grn.{gamma,beta}                      shape (C,)
    norm{i}                                              norm of output stage i

The classifier head ``head.fc`` sits beside the backbone. mmpretrain's
classifiers output only the last stage and apply ``norm3`` after global
pooling, so a lone ``norm3`` is the classifier's final norm. Several output
norms (detection and segmentation models) stay per-stage output norms.
"""
import re
from typing import Dict

import torch

from ..report import LoadReport
from .common import compile_rules, normalize_shapes, put, rename_key, skip_reason_outside

BACKBONE_PREFIX = 'backbone.'
LAST_STAGE = 3

TO_CANONICAL = compile_rules((
    (r'(downsample_layers\.\d+\.[01]\.(?:weight|bias))', r'\1'),
    (r'stages\.(\d+)\.(\d+)\.depthwise_conv\.(weight|bias)', r'stages.\1.\2.dwconv.\3'),
    (r'stages\.(\d+)\.(\d+)\.norm\.(weight|bias)', r'stages.\1.\2.norm.\3'),
    (r'stages\.(\d+)\.(\d+)\.pointwise_conv([12])\.(weight|bias)', r'stages.\1.\2.pwconv\3.\4'),
    (r'stages\.(\d+)\.(\d+)\.grn\.(gamma|beta)', r'stages.\1.\2.grn.\3'),
))

HEAD_RULE = compile_rules(((r'head\.fc\.(weight|bias)', r'head.\1'),))
OUTPUT_NORM = re.compile(r'norm(\d+)\.(weight|bias)')
LAYER_SCALE = re.compile(r'stages\.\d+\.\d+\.gamma')


def to_canonical(state_dict: Dict[str, torch.Tensor], prefix: str,
                 report: LoadReport) -> Dict[str, torch.Tensor]:
    """Rename mmpretrain keys to package keys.

    ``prefix`` is the part before ``downsample_layers`` (usually
    ``'backbone.'``); the head is looked up beside it.
    """
    outer = prefix[:-len(BACKBONE_PREFIX)] if prefix.endswith(BACKBONE_PREFIX) else prefix
    norm_stages = {int(match[1]) for match in
                   (OUTPUT_NORM.fullmatch(key[len(prefix):]) for key in state_dict
                    if key.startswith(prefix)) if match}
    final_norm_only = norm_stages == {LAST_STAGE}

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
        if LAYER_SCALE.fullmatch(relative):
            report.skipped[key] = ('layer scale of a ConvNeXt V1 block; ConvNeXt V2 blocks '
                                   'have none (is this a use_grn=False checkpoint?)')
            continue
        norm_match = OUTPUT_NORM.fullmatch(relative)
        if norm_match and final_norm_only:
            new_key = f'norm.{norm_match[2]}'
        else:
            new_key = rename_key(relative, TO_CANONICAL) or relative
        put(result, key, new_key, value, report)
    return normalize_shapes(result, report)
