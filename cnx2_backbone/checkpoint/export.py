"""Rewrite a checkpoint of any supported layout in the official, timm or HF layout."""
from pathlib import Path
from typing import Optional, Tuple

from mmengine.logging import print_log

from .converters import EXPORT_LAYOUTS, convert_to_canonical, export_state_dict
from .io import PathLike, read_checkpoint, save_state_dict
from .report import LoadReport


def convert_checkpoint(source: PathLike, destination: PathLike, layout: str = 'official',
                       prefix: Optional[str] = None,
                       conv_mlp: Optional[bool] = None) -> Tuple[LoadReport, LoadReport]:
    """Read ``source`` in any supported layout and write it to ``destination``.

    The output holds only model weights. ``official`` writes
    ``{'model': state_dict}`` like the official releases; ``timm`` and ``hf``
    write a bare state dict. A ``.safetensors`` destination is written with
    the safetensors package, always as a bare state dict.

    Args:
        source (PathLike): Checkpoint file or Hugging Face model folder.
        destination (PathLike): Output file.
        layout (str): ``'official'``, ``'timm'`` or ``'hf'``.
            Defaults to ``'official'``.
        prefix (str, optional): Read only keys under this prefix, stripped.
        conv_mlp (bool, optional): timm only, see ``export_state_dict``.

    Returns:
        tuple[LoadReport, LoadReport]: What reading the source and writing
        the destination did to each key.
    """
    if layout not in EXPORT_LAYOUTS:
        raise ValueError(f'Unknown layout {layout!r}; expected one of {EXPORT_LAYOUTS}.')
    read_report = LoadReport(source=str(source))
    canonical = convert_to_canonical(read_checkpoint(source), read_report, prefix=prefix)
    read_report.loaded = sorted(canonical)
    read_report.log()

    write_report = LoadReport(source=str(destination))
    exported = export_state_dict(canonical, layout, write_report, conv_mlp=conv_mlp)
    write_report.loaded = sorted(exported)
    wrapper = 'model' if layout == 'official' else None
    save_state_dict(exported, destination, wrapper=wrapper)
    if Path(destination).suffix != '.safetensors' and wrapper:
        write_report.details.append(f'in {wrapper!r}')
    write_report.log()
    print_log(f'Wrote {len(exported)} tensors in the {layout} layout to {destination}.',
              logger='current')
    return read_report, write_report
