from .classifier import ConvNeXtV2Classifier
from .convnextv2 import ARCH_SETTINGS, Block, ConvNeXtV2, ConvNeXtV2Stages, resolve_arch
from .fcmae import FCMAE
from .image_classifier import ImageClassifier  # noqa: F401

__all__ = ['ARCH_SETTINGS', 'Block', 'ConvNeXtV2', 'ConvNeXtV2Classifier', 'ConvNeXtV2Stages',
           'FCMAE', 'resolve_arch']
