"""Plain PyTorch building blocks of ConvNeXt V2 (no mm imports)."""
from .drop_path import DropPath, drop_path
from .grn import GRN
from .norm import LayerNorm2d

__all__ = ['DropPath', 'drop_path', 'GRN', 'LayerNorm2d']
