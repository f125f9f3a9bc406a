"""Load a checkpoint of any supported layout into a ConvNeXt V2 model."""
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..models import ConvNeXtV2, ConvNeXtV2Classifier
from .converters import convert_to_canonical
from .converters.common import OUTPUT_NORM
from .io import read_checkpoint
from .report import LoadReport

MAX_LISTED_KEYS = 20


def load_pretrained(model: nn.Module,
                    checkpoint: Union[str, os.PathLike, Mapping[str, Any]],
                    strict: bool = False,
                    prefix: Optional[str] = None) -> LoadReport:
    """Load weights of any supported layout into ``model`` and log what happened.

    The layout (official dense or sparse FCMAE, official fine-tuned, timm,
    Hugging Face, mmpretrain, this package or mmengine) is detected from the
    keys. For a :class:`ConvNeXtV2` backbone the classifier's ``norm`` and
    ``head`` are skipped, and its output norms ``norm{i}`` keep their
    initialization unless the checkpoint has them (detection or segmentation
    checkpoints). For a :class:`ConvNeXtV2Classifier` a head with another
    ``num_classes`` is skipped with a warning.

    Args:
        model (nn.Module): Usually a ``ConvNeXtV2`` or ``ConvNeXtV2Classifier``.
        checkpoint (str | PathLike | Mapping): File (``.pth``, ``.pt``,
            ``.bin``, ``.safetensors``), Hugging Face model folder, or an
            in-memory (wrapped) state dict.
        strict (bool): Raise if any model key is missing, any checkpoint key
            is unexpected, or the head has another ``num_classes``. Keys
            that are skipped by design, such as an FCMAE decoder or the
            classifier parts for a backbone, do not count. Defaults to False.
        prefix (str, optional): Load only keys that start with this text,
            stripped (e.g. ``'backbone.'``). None detects the prefix.

    Returns:
        LoadReport: What was loaded, renamed, reshaped, skipped, missing
        and unexpected.

    Raises:
        ValueError: if the checkpoint matches none of the model's keys, shapes
            differ (another arch or ``in_channels``), or ``strict`` finds a
            difference.
    """
    report = LoadReport()
    if isinstance(checkpoint, (str, os.PathLike)):
        report.source = str(checkpoint)
        checkpoint = read_checkpoint(checkpoint)
    elif not isinstance(checkpoint, Mapping):
        raise TypeError('checkpoint must be a path or a state dict, got '
                        f'{type(checkpoint).__name__}.')

    canonical = convert_to_canonical(checkpoint, report, prefix=prefix)
    to_load = match_to_model(model, canonical, report, strict=strict)
    result = model.load_state_dict(to_load, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    report.loaded = sorted(to_load)
    report.log()
    return report


def match_to_model(model: nn.Module, canonical: Dict[str, torch.Tensor], report: LoadReport,
                   strict: bool = False) -> Dict[str, torch.Tensor]:
    """Select the weights of ``canonical`` that ``model`` takes, filling ``report``.

    Returns the dict to pass to ``model.load_state_dict``.
    """
    model_state = model.state_dict()
    to_load: Dict[str, torch.Tensor] = {}
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = []
    _check_head(model, canonical, model_state, report, strict)

    for key, value in canonical.items():
        if key in report.skipped:
            continue
        reason = _skip_reason(model, key, model_state)
        if reason is not None:
            report.skipped[key] = reason
        elif key not in model_state:
            report.unexpected[key] = f'{type(model).__name__} has no parameter of this name'
        elif value.shape != model_state[key].shape:
            mismatched.append((key, tuple(value.shape), tuple(model_state[key].shape)))
        else:
            to_load[key] = value

    if mismatched:
        raise ValueError(_mismatch_message(model, mismatched))
    if not to_load:
        raise ValueError(
            f'The checkpoint ({report.layout} layout) matches none of the keys of '
            f'{type(model).__name__}. Checkpoint keys after conversion: '
            f'{_head(sorted(canonical))}; model keys: {_head(sorted(model_state))}.')

    for key in model_state:
        if key not in to_load:
            report.missing[key] = _missing_reason(model, key, canonical, report)

    if strict and (report.missing or report.unexpected):
        raise ValueError(f'strict=True: {len(report.missing)} missing keys '
                         f'{_head(list(report.missing))} and {len(report.unexpected)} '
                         f'unexpected keys {_head(list(report.unexpected))}.')
    return to_load


def _check_head(model: nn.Module, canonical: Dict[str, torch.Tensor],
                model_state: Dict[str, torch.Tensor], report: LoadReport, strict: bool) -> None:
    """Skip a classification head whose num_classes differs, or raise under ``strict``."""
    if not isinstance(model, ConvNeXtV2Classifier) or 'head.weight' not in canonical:
        return
    source_shape = tuple(canonical['head.weight'].shape)
    model_shape = tuple(model_state['head.weight'].shape)
    if source_shape == model_shape or source_shape[1:] != model_shape[1:]:
        return
    message = (f'the checkpoint head has {source_shape[0]} classes {source_shape}, the model '
               f'num_classes={model_shape[0]} {model_shape}')
    if strict:
        raise ValueError(f'Cannot load head.weight with strict=True: {message}. Set '
                         f'num_classes={source_shape[0]} or load with strict=False to keep '
                         'a freshly initialized head.')
    for key in ('head.weight', 'head.bias'):
        if key in canonical:
            report.skipped[key] = f'{message}; the head keeps its initialization'
            report.warn_skipped.append(key)


def _skip_reason(model: nn.Module, key: str, model_state: Dict[str, torch.Tensor]
                 ) -> Optional[str]:
    """Return why ``key`` is left out on purpose for this model type, or None."""
    if isinstance(model, ConvNeXtV2):
        if key.startswith('norm.'):
            return ('final norm of the classifier; the backbone normalizes each output '
                    'with its own norm{i}')
        if key.startswith('head.'):
            return 'classification head; the backbone has none'
        match = OUTPUT_NORM.match(key)
        if match and key not in model_state:
            return f'output norm of stage {match[1]}, which is not in out_indices'
    if isinstance(model, ConvNeXtV2Classifier) and OUTPUT_NORM.match(key):
        return ('output norm of a detection or segmentation backbone; the classifier '
                'has none')
    return None


def _missing_reason(model: nn.Module, key: str, canonical: Dict[str, torch.Tensor],
                    report: LoadReport) -> str:
    """Explain a model key without a value; expected cases go to ``report.expected_missing``."""
    if key in report.skipped:
        report.expected_missing.append(key)
        return 'checkpoint value skipped, see above'
    if isinstance(model, ConvNeXtV2) and OUTPUT_NORM.match(key):
        report.expected_missing.append(key)
        return ('backbone output norm; classification and pretraining checkpoints have '
                'none, so it starts at weight 1, bias 0')
    if isinstance(model, ConvNeXtV2Classifier):
        part = key.split('.')[0]
        if part in ('head', 'norm') and not any(k.startswith(part + '.') for k in canonical):
            report.expected_missing.append(key)
            name = 'classification head' if part == 'head' else 'final norm'
            return f'the checkpoint has no {name} (e.g. FCMAE pretraining weights)'
    return 'not in the checkpoint'


def _mismatch_message(model: nn.Module,
                      mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]) -> str:
    lines = [f'  {key}: checkpoint {source}, model {target}'
             for key, source, target in mismatched[:MAX_LISTED_KEYS]]
    if len(mismatched) > MAX_LISTED_KEYS:
        lines.append(f'  ... and {len(mismatched) - MAX_LISTED_KEYS} more')
    hint = 'The checkpoint was made for another arch (depths, dims)'
    stem = next((m for m in mismatched if m[0] == 'downsample_layers.0.0.weight'), None)
    if stem is not None and stem[1][0] == stem[2][0] and stem[1][1] != stem[2][1]:
        hint = (f'The checkpoint stem takes {stem[1][1]} input channels, the model '
                f'in_channels={stem[2][1]}')
    return (f'{len(mismatched)} checkpoint tensors do not fit {type(model).__name__} '
            f'(depths={getattr(model, "depths", "?")}, dims={getattr(model, "dims", "?")}):\n'
            + '\n'.join(lines) + f'\n{hint}; build the model to match it.')


def _head(keys: List[str], count: int = 8) -> List[str]:
    return keys[:count] + ([f'... {len(keys) - count} more'] if len(keys) > count else [])
