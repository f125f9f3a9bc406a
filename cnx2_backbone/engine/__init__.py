"""Training components registered in the ``cnx2_backbone`` scope."""
from .layer_decay import LayerDecayOptimWrapperConstructor
from .metrics import Accuracy  # noqa: F401
from .optim_wrapper import BFloat16OptimWrapper

__all__ = ['BFloat16OptimWrapper', 'LayerDecayOptimWrapperConstructor']
