from .classification import ImageFolderDataset  # noqa: F401
from .camvid import CamVidDataset  # noqa: F401
