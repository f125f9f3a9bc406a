"""Key renaming and shape fixes shared by the layout converters.

The converters map every layout to the package's own key names, which are
those of the official ConvNeXt V2 code plus the backbone's output norms:

    downsample_layers.{0..3}.{0,1}.{weight,bias}
    stages.{s}.{b}.dwconv.{weight,bias}        (C, 1, 7, 7) and (C,)
    stages.{s}.{b}.norm.{weight,bias}
    stages.{s}.{b}.pwconv1.{weight,bias}       (4C, C) and (4C,)
    stages.{s}.{b}.grn.{gamma,beta}            (4C,)
    stages.{s}.{b}.pwconv2.{weight,bias}       (C, 4C) and (C,)
    norm.{weight,bias}, head.{weight,bias}     classifier only
    norm{i}.{weight,bias}                      backbone output norms
"""
import re
from typing import Callable, Dict, Optional, Pattern, Sequence, Tuple, Union

import torch

from ..report import LoadReport

Replacement = Union[str, Callable[['re.Match[str]'], str]]
Rule = Tuple[Pattern[str], Replacement]

GRN_PARAM = re.compile(r'(^|\.)grn\.(gamma|beta)$')
POINTWISE_WEIGHT = re.compile(r'(^|\.)pwconv[12]\.weight$')
OUTPUT_NORM = re.compile(r'^norm(\d+)\.(weight|bias)$')

# Top-level names of the FCMAE decoder side in official and package checkpoints.
FCMAE_DECODER_NAMES = ('decoder', 'mask_token', 'proj', 'pred')


def compile_rules(table: Sequence[Tuple[str, Replacement]]) -> Tuple[Rule, ...]:
    """Compile ``(regex, replacement)`` pairs; each regex must match a whole key."""
    return tuple((re.compile(pattern), replacement) for pattern, replacement in table)


def rename_key(key: str, rules: Sequence[Rule]) -> Optional[str]:
    """Return the key produced by the first rule that matches ``key``, or None."""
    for pattern, replacement in rules:
        match = pattern.fullmatch(key)
        if match is None:
            continue
        if callable(replacement):
            return replacement(match)
        return match.expand(replacement)
    return None


def put(target: Dict[str, torch.Tensor], source_key: str, new_key: str,
        value: torch.Tensor, report: LoadReport) -> None:
    """Store ``value`` under ``new_key`` and record the rename.

    Raises:
        ValueError: if two source keys map to the same new key.
    """
    if new_key in target:
        previous = next((old for old, new in report.renamed.items() if new == new_key), new_key)
        raise ValueError(f'Checkpoint keys {previous!r} and {source_key!r} both map to '
                         f'{new_key!r}; pass prefix= to choose one set of weights.')
    target[new_key] = value
    if source_key != new_key:
        report.renamed[source_key] = new_key


def skip_reason_outside(key: str, prefix: str) -> str:
    """Explain why ``key``, which does not start with the model prefix, is skipped."""
    if prefix.endswith('encoder.'):
        outer = prefix[:-len('encoder.')]
        relative = key[len(outer):] if key.startswith(outer) else key
        if relative.split('.')[0] in FCMAE_DECODER_NAMES:
            return ('FCMAE decoder side (mask token, projection, decoder blocks, '
                    'pixel prediction); only the encoder is loaded')
    return f'outside the model weights under {prefix!r}'


def to_vector(key: str, value: torch.Tensor, report: LoadReport) -> torch.Tensor:
    """Flatten a (1, C) or (1, 1, 1, C) parameter to (C,), recording the reshape.

    Raises:
        ValueError: if a leading dimension is not 1.
    """
    if value.ndim == 1:
        return value
    if any(size != 1 for size in value.shape[:-1]):
        raise ValueError(f'{key} has shape {tuple(value.shape)}; expected (C,), (1, C) '
                         'or (1, 1, 1, C).')
    flat = value.reshape(-1)
    record_reshape(report, key, value, flat)
    return flat


def record_reshape(report: LoadReport, key: str, old: torch.Tensor, new: torch.Tensor) -> None:
    report.reshaped[key] = (tuple(old.shape), tuple(new.shape))


def normalize_shapes(state_dict: Dict[str, torch.Tensor],
                     report: LoadReport) -> Dict[str, torch.Tensor]:
    """Bring parameters in the package's key names to the package's shapes.

    GRN parameters and biases stored as (1, C) or (1, 1, 1, C) become (C,);
    1x1-conv pointwise weights (out, in, 1, 1) become Linear weights (out, in).
    """
    result = {}
    for key, value in state_dict.items():
        if GRN_PARAM.search(key) or (key.endswith('.bias') and value.ndim == 2
                                     and value.shape[0] == 1):
            value = to_vector(key, value, report)
        elif POINTWISE_WEIGHT.search(key) and value.ndim == 4 and value.shape[2:] == (1, 1):
            flat = value.flatten(1)  # (out, in, 1, 1) -> (out, in)
            record_reshape(report, key, value, flat)
            value = flat
        result[key] = value
    return result


def stage_dims(canonical: Dict[str, torch.Tensor]) -> Tuple[int, ...]:
    """Return the channel count of each stage found in package-named weights."""
    dims = []
    for stage in range(4):
        weight = canonical.get(f'stages.{stage}.0.dwconv.weight')
        if weight is None:
            break
        dims.append(int(weight.shape[0]))
    return tuple(dims)
