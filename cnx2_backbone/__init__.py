"""ConvNeXt V2 backbone, classifier and FCMAE pretraining for OpenMMLab."""
from .version_check import check_versions

check_versions()

from .models import ConvNeXtV2, ConvNeXtV2Classifier  # noqa: E402
from .models.fcmae import FCMAE  # noqa: E402
from .checkpoint import load_pretrained  # noqa: E402

__version__ = '0.1.0'

__all__ = ['ConvNeXtV2', 'ConvNeXtV2Classifier', 'FCMAE', 'load_pretrained', '__version__']
