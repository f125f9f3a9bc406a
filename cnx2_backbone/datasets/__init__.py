from .classification import ImageFolderDataset  # noqa: F401
from .camvid import CamVidDataset  # noqa: F401
from .unlabeled import UnlabeledImageFolder  # noqa: F401
