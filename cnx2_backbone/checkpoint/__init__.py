"""Checkpoint layout detection, conversion, loading and export.

``load_pretrained`` loads official (dense or sparse FCMAE), timm, Hugging
Face, mmpretrain, mmengine and this package's checkpoints into ConvNeXt V2
models. ``convert_checkpoint`` rewrites any of them in the official, timm or
Hugging Face layout.
"""
from .converters import EXPORT_LAYOUTS, convert_to_canonical, export_state_dict
from .export import convert_checkpoint
from .io import read_checkpoint, save_state_dict, unwrap_state_dict
from .layout import LAYOUTS, Layout, detect_layout
from .loader import load_pretrained
from .report import LoadReport

__all__ = ['EXPORT_LAYOUTS', 'LAYOUTS', 'Layout', 'LoadReport', 'convert_checkpoint',
           'convert_to_canonical', 'detect_layout', 'export_state_dict', 'load_pretrained',
           'read_checkpoint', 'save_state_dict', 'unwrap_state_dict']
