"""Training components registered in the ``cnx2_backbone`` scope."""
from .hooks import ExportBackboneHook, NonFiniteLossHook, ThroughputHook  # noqa: F401
from .layer_decay import LayerDecayOptimWrapperConstructor
from .metrics import Accuracy  # noqa: F401
from .optim_wrapper import BFloat16OptimWrapper

__all__ = ['BFloat16OptimWrapper', 'LayerDecayOptimWrapperConstructor']
