"""Detect which ConvNeXt V2 key layout a state dict uses, from its keys alone."""
import re
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Mapping

import torch

# Each layout names its depthwise conv differently. The part of a key before
# the stage names is the prefix that wraps the model, such as ``backbone.``,
# ``encoder.``, ``module.`` or ``convnextv2.``.
LAYOUT_MARKERS = (
    ('official-fcmae-sparse', re.compile(r'((?:.*\.)?)stages\.\d+\.\d+\.dwconv\.kernel')),
    ('official', re.compile(r'((?:.*\.)?)stages\.\d+\.\d+\.dwconv\.weight')),
    ('mmpretrain', re.compile(r'((?:.*\.)?)stages\.\d+\.\d+\.depthwise_conv\.weight')),
    ('timm', re.compile(r'((?:.*\.)?)stages\.\d+\.blocks\.\d+\.conv_dw\.weight')),
    ('hf', re.compile(r'((?:.*\.)?)encoder\.stages\.\d+\.layers\.\d+\.dwconv\.weight')),
)

LAYOUTS = tuple(name for name, _ in LAYOUT_MARKERS)


@dataclass(frozen=True)
class Layout:
    """A detected layout.

    Attributes:
        name (str): One of ``LAYOUTS``.
        prefix (str): Text before the layout's own key names, e.g.
            ``'backbone.'`` or ``''``.
    """

    name: str
    prefix: str


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> Layout:
    """Return the layout and model prefix of ``state_dict``.

    Every key is matched against the depthwise-conv key of each layout; the
    (layout, prefix) pair found in the keys must be unique.

    Raises:
        ValueError: if no layout matches, or several layouts or prefixes do
            (e.g. a teacher and a student); pass ``prefix=`` to choose then.
    """
    found: Counter = Counter()
    for key in state_dict:
        for name, pattern in LAYOUT_MARKERS:
            match = pattern.fullmatch(key)
            if match:
                found[Layout(name, match[1])] += 1
                break
    if not found:
        sample = list(state_dict)[:8]
        raise ValueError(
            f'No ConvNeXt V2 layout recognized in {len(state_dict)} keys (first: {sample}). '
            f'Known layouts: {", ".join(LAYOUTS)}; each is recognized by its depthwise '
            'conv keys, e.g. stages.0.0.dwconv.weight (official).')
    if len(found) > 1:
        choices = ', '.join(f'{layout.name} under {layout.prefix!r} ({count} blocks)'
                            for layout, count in found.most_common())
        raise ValueError(f'The checkpoint contains several ConvNeXt V2 models: {choices}. '
                         'Pass prefix= to load one of them.')
    return next(iter(found))


def describe(layout: Layout, state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """Return short notes on what the checkpoint contains, for the load log."""
    notes = []
    if layout.prefix:
        notes.append(f'model prefix {layout.prefix!r}')
    keys = list(state_dict)
    if layout.name == 'official-fcmae-sparse' or (
            layout.prefix.endswith('encoder.') and any('mask_token' in k for k in keys)):
        notes.append('FCMAE pretraining model')
    elif any(_is_head_key(layout, key) for key in keys):
        notes.append('classifier with head')
    elif layout.name == 'official' and not any(
            re.fullmatch(re.escape(layout.prefix) + r'norm\d?\.weight', k) for k in keys):
        notes.append('encoder without head (FCMAE pretrain-only weights)')
    return notes


def _is_head_key(layout: Layout, key: str) -> bool:
    suffixes: Dict[str, str] = {'official': 'head.weight', 'timm': 'head.fc.weight',
                                'hf': 'classifier.weight', 'mmpretrain': 'head.fc.weight'}
    suffix = suffixes.get(layout.name)
    return suffix is not None and (key == suffix or key.endswith('.' + suffix))
