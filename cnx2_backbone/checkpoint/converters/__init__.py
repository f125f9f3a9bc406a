"""Converters between checkpoint layouts and the package's own key names."""
from typing import Any, Callable, Dict, Mapping, Optional

import torch

from ..io import unwrap_state_dict
from ..layout import describe, detect_layout
from ..report import LoadReport
from . import hf, mmpretrain, official, timm

ToCanonical = Callable[[Dict[str, torch.Tensor], str, LoadReport], Dict[str, torch.Tensor]]

TO_CANONICAL: Dict[str, ToCanonical] = {
    'official': official.dense_to_canonical,
    'official-fcmae-sparse': official.sparse_to_canonical,
    'timm': timm.to_canonical,
    'hf': hf.to_canonical,
    'mmpretrain': mmpretrain.to_canonical,
}

EXPORT_LAYOUTS = ('official', 'timm', 'hf')


def convert_to_canonical(checkpoint: Mapping[str, Any], report: LoadReport,
                         prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Return the weights of ``checkpoint`` under package key names and shapes.

    Args:
        checkpoint (Mapping): A state dict or a checkpoint dict wrapping one
            (``state_dict``, ``model``, ``module``).
        report (LoadReport): Receives the layout and every renamed, reshaped
            and skipped key.
        prefix (str, optional): Keep only keys starting with this text and
            strip it (e.g. ``'backbone.'``). None detects the prefix.

    Raises:
        ValueError: if no key has ``prefix``, or the layout is not recognized
            or ambiguous.
    """
    state_dict, details = unwrap_state_dict(checkpoint)
    report.details.extend(details)
    if prefix:
        state_dict = _strip_prefix(state_dict, prefix, report)
        report.details.append(f'prefix {prefix!r} stripped')
    layout = detect_layout(state_dict)
    report.layout = layout.name
    report.details.extend(describe(layout, state_dict))
    return TO_CANONICAL[layout.name](state_dict, layout.prefix, report)


def _strip_prefix(state_dict: Dict[str, torch.Tensor], prefix: str,
                  report: LoadReport) -> Dict[str, torch.Tensor]:
    stripped = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            stripped[key[len(prefix):]] = value
        else:
            report.skipped[key] = f'does not start with the requested prefix {prefix!r}'
    if not stripped:
        starts = sorted({key.split('.')[0] + '.' for key in state_dict})
        raise ValueError(f'No checkpoint key starts with prefix {prefix!r}; the keys start '
                         f'with {starts[:10]}.')
    return stripped


def export_state_dict(canonical: Dict[str, torch.Tensor], layout: str, report: LoadReport,
                      conv_mlp: Optional[bool] = None) -> Dict[str, torch.Tensor]:
    """Convert package-named weights to the ``official``, ``timm`` or ``hf`` layout.

    Args:
        canonical (dict): Weights under package key names and shapes.
        layout (str): Target layout, one of ``EXPORT_LAYOUTS``.
        report (LoadReport): Receives renamed, reshaped and skipped keys.
        conv_mlp (bool, optional): timm only: store the MLP as 1x1 convs;
            None decides from the stage widths as timm does.

    Raises:
        ValueError: for an unknown layout.
    """
    report.layout = layout
    if layout == 'official':
        return official.canonical_to_official(canonical, report)
    if layout == 'timm':
        return timm.from_canonical(canonical, report, conv_mlp=conv_mlp)
    if layout == 'hf':
        return hf.from_canonical(canonical, report)
    raise ValueError(f'Unknown export layout {layout!r}; expected one of {EXPORT_LAYOUTS}.')
