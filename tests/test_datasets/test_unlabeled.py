"""UnlabeledImageFolder and its decoding: modes, EXIF, corrupted files, scanning."""
import logging
import shutil
import uuid

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from PIL import Image

from cnx2_backbone.datasets.unlabeled import (UnlabeledImageFolder, decode_image,
                                              scale_to_uint8, scan_images)

PIPELINE = [dict(type='RandomResizedCrop', size=64, scale=(0.2, 1.0), antialias=True),
            dict(type='RandomHorizontalFlip')]


@pytest.fixture
def log_text(tmp_path):
    """Make a fresh mmengine logger current; return a function that reads what it wrote."""
    log_file = tmp_path / 'run.log'
    logger = MMLogger.get_instance(f'dataset_test_{uuid.uuid4().hex}', log_file=str(log_file),
                                   log_level=logging.INFO)

    def read() -> str:
        for handler in logger.handlers:
            handler.flush()
        return log_file.read_text()

    return read


@pytest.fixture
def real_images(demo_data, tmp_path):
    """Four real photos in an ImageFolder tree, plus files that are not images."""
    root = tmp_path / 'images'
    for class_name in ('ants', 'bees'):
        sources = sorted((demo_data / 'hymenoptera' / 'train' / class_name).glob('*.jpg'))[:2]
        (root / class_name).mkdir(parents=True)
        for source in sources:
            shutil.copy(source, root / class_name / source.name)
    (root / 'notes.txt').write_text('not an image')
    (root / 'ants' / 'empty.jpg').touch()
    return root


def test_decode_rgb_photo(demo_data):
    path = sorted((demo_data / 'hymenoptera' / 'val' / 'bees').glob('*.jpg'))[0]
    image = decode_image(str(path))
    assert image.mode == 'RGB'
    assert min(image.size) == 160


@pytest.mark.parametrize('mode', ['L', '1', 'P', 'CMYK', 'LA', 'RGBA'])
def test_decode_modes_become_rgb(tmp_path, mode):
    path = tmp_path / f'image_{mode}.png' if mode != 'CMYK' else tmp_path / 'image.jpg'
    Image.new('RGB', (40, 30), (200, 100, 50)).convert(mode).save(path)
    image = decode_image(str(path))
    assert image.mode == 'RGB'
    assert image.size == (40, 30)


def test_decode_transparent_pixels_on_white(tmp_path):
    path = tmp_path / 'transparent.png'
    Image.new('RGBA', (8, 8), (0, 0, 0, 0)).save(path)
    assert decode_image(str(path)).getpixel((0, 0)) == (255, 255, 255)


def test_decode_palette_transparency(tmp_path):
    path = tmp_path / 'palette.gif'
    image = Image.new('P', (8, 8), 0)
    image.putpalette([0, 0, 0] * 256)
    image.info['transparency'] = 0
    image.save(path, transparency=0)
    assert decode_image(str(path)).getpixel((0, 0)) == (255, 255, 255)


def test_decode_16_bit_scaled_not_clipped(tmp_path):
    path = tmp_path / 'depth.png'
    values = np.array([[0, 32768, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith('I')
    image = np.asarray(decode_image(str(path)))
    assert image.shape == (1, 4, 3)
    assert image[0, :, 0].tolist() == [0, 128, 255, 4]


@pytest.mark.parametrize('values, mode, expected', [
    (np.array([0, 1000, 65535]), 'I;16', [0, 4, 255]),
    (np.array([0, 128, 255]), 'I', [0, 128, 255]),
    (np.array([0, 300, 65535]), 'I', [0, 1, 255]),
    (np.array([-10, 0, 10]), 'I', [0, 128, 255]),
    (np.array([0.0, 0.5, 1.0]), 'F', [0, 128, 255]),
])
def test_scale_to_uint8(values, mode, expected):
    assert scale_to_uint8(values, mode).tolist() == expected


def test_decode_applies_exif_orientation(tmp_path):
    path = tmp_path / 'rotated.jpg'
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: display rotated 90 degrees clockwise.
    Image.new('RGB', (60, 20), (10, 20, 30)).save(path, exif=exif)
    assert decode_image(str(path)).size == (20, 60)


def test_scan_skips_and_counts(real_images):
    paths, left_out = scan_images([real_images])
    assert len(paths) == 4
    assert left_out == {'zero-byte': 1, 'without an image suffix': 1}
    assert paths == sorted(paths)


def test_skipped_counts_logged(real_images, log_text):
    UnlabeledImageFolder(str(real_images), pipeline=PIPELINE)
    assert '4 images; skipped files: 1 zero-byte, 1 without an image suffix.' in log_text()


def test_scan_empty_folder_names_it(tmp_path):
    empty = tmp_path / 'nothing_here'
    empty.mkdir()
    (empty / 'readme.md').write_text('no images')
    with pytest.raises(ValueError, match='nothing_here'):
        UnlabeledImageFolder(str(empty))


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match='does_not_exist'):
        UnlabeledImageFolder(str(tmp_path / 'does_not_exist'))


def test_items_are_uint8_rgb_crops(real_images):
    dataset = UnlabeledImageFolder(str(real_images), pipeline=PIPELINE)
    item = dataset[0]
    assert set(item) == {'inputs'}
    assert item['inputs'].dtype == torch.uint8
    assert item['inputs'].shape == (3, 64, 64)


def test_corrupted_file_skipped_and_logged(real_images, log_text):
    broken = real_images / 'bees' / 'broken.jpg'
    broken.write_bytes(b'\xff\xd8\xff\xe0 truncated jpeg')
    dataset = UnlabeledImageFolder(str(real_images), pipeline=PIPELINE)
    broken_index = [str(path) for path in dataset._paths].index(str(broken))
    item = dataset[broken_index]
    assert item['inputs'].shape == (3, 64, 64)
    assert f'Skipping undecodable image {broken}' in log_text()
    assert '1 skipped so far' in log_text()


def test_corrupted_file_logged_once(real_images, log_text):
    (real_images / 'bees' / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    dataset = UnlabeledImageFolder(str(real_images), pipeline=PIPELINE)
    for _ in range(2):
        for index in range(len(dataset)):
            dataset[index]
    assert log_text().count('broken.png') == 1


def test_all_files_undecodable_raises(tmp_path):
    for index in range(3):
        (tmp_path / f'fake{index}.jpg').write_bytes(b'not really a jpeg')
    dataset = UnlabeledImageFolder(str(tmp_path), pipeline=PIPELINE, max_refetch=5)
    with pytest.raises(RuntimeError, match='failed to decode'):
        dataset[0]


def test_several_roots(demo_data):
    dataset = UnlabeledImageFolder([str(demo_data / 'hymenoptera' / 'val'),
                                    str(demo_data / 'balloon' / 'val')], pipeline=PIPELINE)
    assert len(dataset) == 24 + 6
