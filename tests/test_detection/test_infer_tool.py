"""tools/infer.py on a Mask R-CNN checkpoint written by the Runner, with bad inputs mixed in."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip('mmdet')

from mmengine.config import Config  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon_scratch.py'
VAL_IMAGES = sorted((REPO_ROOT / 'demo/data/balloon/val').glob('*.jpg'))[:2]


def load_infer_tool():
    spec = importlib.util.spec_from_file_location('infer_tool', REPO_ROOT / 'tools/infer.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """Train the scratch balloon config for one step; returns the Runner's checkpoint."""
    from mmengine.runner import Runner

    work_dir = tmp_path_factory.mktemp('infer_checkpoint')
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.indices = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1, val_interval=1)
    cfg.default_hooks.checkpoint.interval = 1
    # No validation: this fixture only needs a checkpoint.
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    Runner.from_cfg(cfg).train()
    return work_dir / 'iter_1.pth'


@pytest.fixture(scope='module')
def infer_tool():
    return load_infer_tool()


def pixel_difference(image_path, drawn_path):
    with Image.open(image_path) as image, Image.open(drawn_path) as drawn:
        assert drawn.size == image.size
        return np.abs(np.asarray(drawn.convert('RGB'), dtype=np.int16)
                      - np.asarray(image.convert('RGB'), dtype=np.int16)).mean()


def test_infer_draws_boxes_and_masks(infer_tool, checkpoint, tmp_path):
    out_dir = tmp_path / 'drawn'
    # Threshold 0 draws every detection of the barely trained model.
    status = infer_tool.main([str(CONFIG), str(checkpoint), *map(str, VAL_IMAGES),
                              '--out', str(out_dir), '--score-thr', '0', '--device', 'cpu'])
    assert status == 0
    assert sorted(path.name for path in out_dir.iterdir()) == sorted(
        f'{path.stem}.png' for path in VAL_IMAGES)
    for image_path in VAL_IMAGES:
        assert pixel_difference(image_path, out_dir / f'{image_path.stem}.png') > 1.0


def test_infer_skips_bad_images_and_fails(infer_tool, checkpoint, tmp_path):
    corrupted = tmp_path / 'corrupted.jpg'
    corrupted.write_bytes(VAL_IMAGES[0].read_bytes()[:200])
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    not_an_image = tmp_path / 'notes.jpg'
    not_an_image.write_text('not an image')
    missing = tmp_path / 'missing.jpg'
    out_dir = tmp_path / 'drawn'

    status = infer_tool.main([str(CONFIG), str(checkpoint), str(corrupted), str(empty),
                              str(VAL_IMAGES[0]), str(not_an_image), str(missing),
                              '--out', str(out_dir), '--device', 'cpu'])
    assert status == 1
    assert [path.name for path in out_dir.iterdir()] == [f'{VAL_IMAGES[0].stem}.png']


def test_infer_accepts_gray_and_rgba_png(infer_tool, checkpoint, tmp_path):
    with Image.open(VAL_IMAGES[1]) as photo:
        gray = tmp_path / 'gray.png'
        photo.convert('L').save(gray)
        rgba = tmp_path / 'rgba.png'
        photo.convert('RGBA').save(rgba)
    out_dir = tmp_path / 'drawn'
    status = infer_tool.main([str(CONFIG), str(checkpoint), str(gray), str(rgba),
                              '--out', str(out_dir), '--device', 'cpu'])
    assert status == 0
    for name in ('gray.png', 'rgba.png'):
        with Image.open(out_dir / name) as drawn:
            assert drawn.mode == 'RGB'


def test_infer_names_repeated_stems_apart(infer_tool, tmp_path):
    paths = infer_tool.output_paths(['a/x.jpg', 'b/x.jpg', 'x.png', 'y.jpg'], tmp_path)
    assert [path.name for path in paths] == ['x.png', 'x_1.png', 'x_2.png', 'y.png']


def test_infer_rejects_config_without_mm_scope(infer_tool, checkpoint, tmp_path):
    config = tmp_path / 'plain.py'
    config.write_text("default_scope = 'mmengine'\n")
    with pytest.raises(ValueError, match='default_scope'):
        infer_tool.main([str(config), str(checkpoint), str(VAL_IMAGES[0]),
                         '--out', str(tmp_path / 'drawn')])


def test_infer_missing_checkpoint_raises(infer_tool, tmp_path):
    with pytest.raises(FileNotFoundError, match='Checkpoint not found'):
        infer_tool.main([str(CONFIG), str(tmp_path / 'none.pth'), str(VAL_IMAGES[0]),
                         '--out', str(tmp_path / 'drawn')])


def test_checkpoint_keeps_balloon_class(checkpoint):
    import torch
    from cnx2_backbone.runtime import runner_checkpoint_loading
    with runner_checkpoint_loading():
        meta = torch.load(checkpoint, map_location='cpu', weights_only=True)['meta']
    assert tuple(meta['dataset_meta']['classes']) == ('balloon',)
