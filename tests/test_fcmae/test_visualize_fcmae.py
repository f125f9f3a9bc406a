"""tools/visualize_fcmae.py and the panels it draws."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnx2_backbone import FCMAE
from cnx2_backbone.checkpoint import read_checkpoint
from cnx2_backbone.datasets.unlabeled import decode_image
from cnx2_backbone.models.fcmae_visualize import (MASKED_FILL, PANEL_TITLES,
                                                  build_fcmae_from_checkpoint,
                                                  reconstruction_panels, square_crop)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'visualize_fcmae.py'
TINY_ARCH = dict(depths=(1, 2, 1, 1), dims=(8, 16, 24, 32))
CONFIG_TEXT = "model = dict(type='cnx2_backbone.FCMAE', mask_ratio=0.75, norm_pix_loss=False)\n"


@pytest.fixture
def checkpoint(tmp_path):
    """A Runner-style checkpoint of a tiny FCMAE whose stored config sets mask_ratio=0.75."""
    model = FCMAE(arch=TINY_ARCH, decoder_dim=16, decoder_depth=2, mask_ratio=0.75,
                  norm_pix_loss=False)
    path = tmp_path / 'iter_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'cfg': CONFIG_TEXT, 'iter': 1}}, path)
    return path


def load_fcmae(path, mask_ratio=None):
    checkpoint = read_checkpoint(path)
    return build_fcmae_from_checkpoint(checkpoint['state_dict'], checkpoint.get('meta'),
                                       mask_ratio)


@pytest.fixture(scope='module')
def visualize_tool():
    spec = importlib.util.spec_from_file_location('visualize_fcmae_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def photos(demo_data):
    return sorted((demo_data / 'hymenoptera' / 'val' / 'bees').glob('*.jpg'))[:2]


def test_model_rebuilt_from_weights_and_meta(checkpoint):
    model = load_fcmae(checkpoint)
    assert model.encoder.depths == (1, 2, 1, 1)
    assert model.encoder.dims == (8, 16, 24, 32)
    assert len(model.decoder) == 2
    assert model.mask_ratio == 0.75
    assert model.norm_pix_loss is False
    assert not model.training


def test_mask_ratio_override(checkpoint):
    assert load_fcmae(checkpoint, mask_ratio=0.5).mask_ratio == 0.5


def test_backbone_export_rejected(tmp_path):
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {'stages.0.0.dwconv.weight': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match='not an FCMAE checkpoint'):
        load_fcmae(path)


def test_square_crop_size(photos):
    image = square_crop(decode_image(str(photos[0])), 96)
    assert image.size == (96, 96)
    assert image.mode == 'RGB'


def test_panels_paste_visible_and_gray_masked(checkpoint, photos):
    model = load_fcmae(checkpoint)
    image = square_crop(decode_image(str(photos[0])), 128)
    panels = reconstruction_panels(model, image, torch.Generator().manual_seed(0))
    assert list(panels) == list(PANEL_TITLES)
    original = panels['original']
    masked_input = panels['masked input']
    pasted = panels['reconstruction + visible']
    assert np.array_equal(original, np.asarray(image))

    # 16 patches of 32 px, 4 visible: a pixel is masked where the masked-input panel is gray
    # over its whole patch.
    patch_gray = (masked_input.reshape(4, 32, 4, 32, 3) == MASKED_FILL).all(axis=(1, 3, 4))
    assert patch_gray.sum() == 12
    visible = ~np.repeat(np.repeat(patch_gray, 32, axis=0), 32, axis=1)
    assert np.array_equal(pasted[visible], original[visible])
    assert np.array_equal(pasted[~visible], panels['reconstruction'][~visible])


def test_tool_writes_grid(checkpoint, photos, tmp_path):
    out = tmp_path / 'grid.png'
    result = subprocess.run([sys.executable, 'tools/visualize_fcmae.py', str(checkpoint),
                             *map(str, photos), '--out', str(out), '--size', '64'],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    grid = Image.open(out)
    # 4 panels of 64 px per row, 4 px padding, a 16 px title row, 2 rows.
    assert grid.size == (4 + 4 * 68, 16 + 4 + 2 * 68)


def test_tool_rejects_size_not_multiple_of_32(visualize_tool, checkpoint, photos, tmp_path):
    with pytest.raises(ValueError, match='multiple of 32'):
        visualize_tool.main([str(checkpoint), str(photos[0]), '--out',
                             str(tmp_path / 'grid.png'), '--size', '100'])


def test_tool_reports_undecodable_image(visualize_tool, checkpoint, tmp_path):
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    with pytest.raises(SystemExit, match=f'Cannot decode image {broken}'):
        visualize_tool.main([str(checkpoint), str(broken), '--out', str(tmp_path / 'grid.png')])
