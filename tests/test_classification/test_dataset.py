"""ImageFolderDataset on the bundled ants/bees photos and on damaged files."""
import shutil

import pytest
import torch

from cnx2_backbone.datasets.classification import (ImageFolderDataset, build_transforms,
                                                   scan_image_folder)

VAL_PIPELINE = [dict(type='Resize', size=146, interpolation='bicubic', antialias=True),
                dict(type='CenterCrop', size=128)]


def test_classes_from_folder_names(hymenoptera):
    dataset = ImageFolderDataset(str(hymenoptera / 'train'), pipeline=VAL_PIPELINE)
    assert dataset.metainfo == dict(classes=('ants', 'bees'))
    assert len(dataset) == 48
    assert [dataset.get_label(i) for i in (0, 23, 24, 47)] == [0, 0, 1, 1]


def test_item_is_uint8_rgb_crop(hymenoptera):
    dataset = ImageFolderDataset(str(hymenoptera / 'val'), pipeline=VAL_PIPELINE)
    item = dataset[20]
    assert item['inputs'].dtype == torch.uint8
    assert tuple(item['inputs'].shape) == (3, 128, 128)
    assert int(item['data_samples'].gt_label) == 1
    assert item['data_samples'].img_path.endswith('.jpg')
    assert '/bees/' in item['data_samples'].img_path
    assert min(item['data_samples'].ori_shape) == 160


def test_random_resized_crop_pipeline(hymenoptera):
    pipeline = [dict(type='RandomResizedCrop', size=96, scale=(0.25, 1.0),
                     interpolation='bicubic', antialias=True),
                dict(type='RandomHorizontalFlip', p=0.5)]
    dataset = ImageFolderDataset(str(hymenoptera / 'train'), pipeline=pipeline)
    assert tuple(dataset[0]['inputs'].shape) == (3, 96, 96)


def test_default_pipeline_is_224_center_crop(hymenoptera):
    dataset = ImageFolderDataset(str(hymenoptera / 'val'))
    assert tuple(dataset[0]['inputs'].shape) == (3, 224, 224)


def test_unreadable_files_are_skipped(tmp_path, hymenoptera, truncated_jpeg):
    ants = tmp_path / 'ants'
    ants.mkdir()
    real = sorted((hymenoptera / 'val' / 'ants').glob('*.jpg'))
    shutil.copy(real[0], ants / 'a_real.jpg')
    truncated_jpeg(real[1], ants / 'b_truncated.jpg')
    (ants / 'c_text.jpg').write_text('not an image')
    shutil.copy(real[2], ants / 'd_real.jpg')
    dataset = ImageFolderDataset(str(tmp_path), pipeline=VAL_PIPELINE)
    assert len(dataset) == 4

    item = dataset[1]
    assert item['data_samples'].img_path.endswith('d_real.jpg')
    item = dataset[2]
    assert item['data_samples'].img_path.endswith('d_real.jpg')
    assert dataset._unreadable == {1, 2}


def test_unreadable_files_are_logged_with_count(tmp_path, hymenoptera, truncated_jpeg,
                                                log_messages):
    ants = tmp_path / 'ants'
    ants.mkdir()
    real = sorted((hymenoptera / 'val' / 'ants').glob('*.jpg'))
    truncated_jpeg(real[1], ants / 'a_truncated.jpg')
    shutil.copy(real[0], ants / 'b_real.jpg')
    dataset = ImageFolderDataset(str(tmp_path), pipeline=VAL_PIPELINE)
    dataset[0]
    output = '\n'.join(log_messages)
    assert 'Skipping unreadable image' in output
    assert 'a_truncated.jpg' in output
    assert '1 skipped so far' in output


def test_all_unreadable_raises(tmp_path):
    (tmp_path / 'ants').mkdir()
    for index in range(3):
        (tmp_path / 'ants' / f'{index}.jpg').write_bytes(b'\x00' * 10)
    dataset = ImageFolderDataset(str(tmp_path), pipeline=VAL_PIPELINE, max_refetch=5)
    with pytest.raises(RuntimeError, match='consecutive images'):
        dataset[0]


def test_explicit_classes_fix_labels(hymenoptera):
    classes, _, labels = scan_image_folder(hymenoptera / 'val', classes=('bees', 'ants'))
    assert classes == ('bees', 'ants')
    assert labels[0] == 0
    assert labels[-1] == 1


def test_empty_folder_raises(tmp_path):
    (tmp_path / 'ants').mkdir()
    with pytest.raises(FileNotFoundError, match='No images'):
        ImageFolderDataset(str(tmp_path))


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        ImageFolderDataset(str(tmp_path / 'absent'))


def test_unknown_transform_raises():
    with pytest.raises(ValueError, match='NoSuchTransform'):
        build_transforms([dict(type='NoSuchTransform')])
