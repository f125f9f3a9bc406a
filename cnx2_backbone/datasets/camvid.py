"""CamVid in the 11-class SegNet version, as an mmseg dataset.

mmseg 1.2 has no CamVid class. Configs name this one with its scope,
``type='cnx2_backbone.CamVidDataset'``, because mmseg configs set
``default_scope='mmseg'`` and an unscoped name would be looked up in mmseg's
registry only.
"""
from mmseg.datasets import BaseSegDataset

from ..registry import DATASETS


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid road scenes with 11 classes and void (255) in mmseg layout.

    Label maps are 8-bit PNGs that share the image's file name: values 0..10
    are the classes below, in this order, and 255 is void, which losses and
    ``IoUMetric`` ignore (their default ``ignore_index``). No label is
    shifted: ``reduce_zero_label`` is always False, because 0 is Sky, not a
    background to drop.

    Expected layout::

        data_root/
          img_dir/{train,val}/NAME.png
          ann_dir/{train,val}/NAME.png

    Args:
        img_suffix (str): Image file suffix. Defaults to ``'.png'``.
        seg_map_suffix (str): Label map file suffix. Defaults to ``'.png'``.
        **kwargs: Passed to ``mmseg.datasets.BaseSegDataset`` (``data_root``,
            ``data_prefix``, ``ann_file``, ``pipeline``, ...).

    Raises:
        ValueError: if ``reduce_zero_label=True`` is passed.
    """

    # Names and colours of the SegNet CamVid release (demo/data/camvid_mini/classes.txt).
    METAINFO = dict(
        classes=('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence',
                 'Car', 'Pedestrian', 'Bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
                 [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png', **kwargs) -> None:
        if kwargs.get('reduce_zero_label', False):
            raise ValueError('CamVidDataset got reduce_zero_label=True, but label 0 is the '
                             'class Sky; void is already 255. Leave reduce_zero_label unset.')
        kwargs['reduce_zero_label'] = False
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
