"""CamVidDataset on the bundled CamVid subset, built as mmseg configs build it."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

NUM_CLASSES = 11
IGNORE_INDEX = 255


def read_classes_txt(path):
    """Return (names, palette) from a ``classes.txt`` of lines ``index name R G B``."""
    names, palette = [], []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith('#'):
            continue
        index, name, red, green, blue = line.split()
        assert int(index) == len(names), f'classes.txt is not in index order at {line!r}'
        names.append(name)
        palette.append([int(red), int(green), int(blue)])
    return tuple(names), palette


def build_camvid(demo_data, split, pipeline=None, **kwargs):
    import cnx2_backbone.datasets  # noqa: F401
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(dict(
        type='cnx2_backbone.CamVidDataset',
        data_root=str(demo_data / 'camvid_mini'),
        data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
        pipeline=pipeline or [],
        **kwargs))


def test_camvid_split_sizes(demo_data):
    assert len(build_camvid(demo_data, 'train')) == 32
    assert len(build_camvid(demo_data, 'val')) == 12


def test_camvid_metainfo_matches_classes_txt(demo_data):
    names, palette = read_classes_txt(demo_data / 'camvid_mini' / 'classes.txt')
    dataset = build_camvid(demo_data, 'val')
    assert len(names) == NUM_CLASSES
    assert dataset.metainfo['classes'] == names
    assert dataset.metainfo['palette'] == palette


def test_camvid_keeps_labels_unshifted(demo_data):
    dataset = build_camvid(demo_data, 'val')
    assert dataset.metainfo['reduce_zero_label'] is False
    # An identity label map: no class is renamed or dropped.
    assert dataset.metainfo['label_map'] is None


def test_camvid_pairs_images_with_labels(demo_data):
    dataset = build_camvid(demo_data, 'train')
    for info in dataset:
        image_name = info['img_path'].rsplit('/', 1)[-1]
        label_name = info['seg_map_path'].rsplit('/', 1)[-1]
        assert image_name == label_name, info


def test_camvid_labels_are_classes_or_void(demo_data):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    dataset = build_camvid(demo_data, 'val', pipeline=pipeline)
    seen = set()
    for index in range(len(dataset)):
        sample = dataset[index]
        labels = sample['gt_seg_map']
        assert labels.shape == sample['img'].shape[:2], sample['img_path']
        seen.update(np.unique(labels).tolist())
    assert seen <= set(range(NUM_CLASSES)) | {IGNORE_INDEX}
    # The val split contains every class and some void.
    assert seen == set(range(NUM_CLASSES)) | {IGNORE_INDEX}


def test_camvid_rejects_reduce_zero_label(demo_data):
    with pytest.raises(ValueError, match='reduce_zero_label'):
        build_camvid(demo_data, 'val', reduce_zero_label=True)
