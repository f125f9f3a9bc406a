"""Write the encoder of an FCMAE checkpoint as ConvNeXt V2 backbone weights.

Kept apart from :mod:`.fcmae` because it reads and writes files through
:mod:`cnx2_backbone.checkpoint`, which itself imports the models package.
"""
from pathlib import Path
from typing import Dict, Mapping, Union

import torch
from mmengine.logging import print_log

from ..checkpoint.io import PathLike, read_checkpoint, save_state_dict, unwrap_state_dict
from .fcmae import fcmae_to_backbone_state_dict

# Keys every ConvNeXt V2 trunk has; their absence means the export is incomplete.
REQUIRED_KEYS = ('downsample_layers.0.0.weight', 'stages.0.0.dwconv.weight')


def export_backbone(source: Union[PathLike, Mapping[str, torch.Tensor]],
                    destination: PathLike) -> Dict[str, torch.Tensor]:
    """Write the encoder weights of an FCMAE model or checkpoint to ``destination``.

    The output is ``{'state_dict': weights}`` with ConvNeXtV2 keys
    (``downsample_layers.*``, ``stages.*``), which
    ``init_cfg=dict(type='Pretrained', checkpoint=destination)`` loads into
    ``ConvNeXtV2`` and ``ConvNeXtV2Classifier``.

    Args:
        source (PathLike | Mapping): A checkpoint written by the Runner of
            ``tools/pretrain.py`` (or any file whose weights carry the
            ``encoder.`` prefix of :class:`FCMAE`), or an FCMAE state dict.
        destination (PathLike): Output file.

    Returns:
        dict: The exported weights.

    Raises:
        ValueError: if the source contains no FCMAE encoder weights.
    """
    if isinstance(source, Mapping):
        state_dict = dict(source)
        source_name = '<state dict>'
    else:
        state_dict, _ = unwrap_state_dict(read_checkpoint(source))
        source_name = str(source)
    backbone = fcmae_to_backbone_state_dict(state_dict)
    absent = [key for key in REQUIRED_KEYS if key not in backbone]
    if absent:
        raise ValueError(f'{source_name} has "encoder." keys but lacks {absent}, so it is not an '
                         'FCMAE checkpoint of this package; convert official checkpoints with '
                         'tools/convert_checkpoint.py instead.')
    save_state_dict(backbone, destination, wrapper='state_dict')
    print_log(f'Exported {len(backbone)} backbone tensors from {source_name} to '
              f'{Path(destination)}.', logger='current')
    return backbone
