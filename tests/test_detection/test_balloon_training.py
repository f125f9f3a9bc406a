"""Real Mask R-CNN training steps and COCO evaluation on bundled balloon images."""
import copy
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import cnx2_backbone  # noqa: E402,F401

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRATCH_CONFIG = REPO_ROOT / 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon_scratch.py'
BALLOON = REPO_ROOT / 'demo/data/balloon'
# A real photo with no balloon in it, the negative example.
NO_BALLOON_IMAGE = next(iter(sorted((REPO_ROOT / 'demo/data/hymenoptera/train/ants').glob('*.jpg'))))


def write_coco_subset(split, num_images, out_dir, add_negative=False):
    """Copy the first ``num_images`` of a balloon split, with their annotations, to ``out_dir``.

    With ``add_negative`` a photo without balloons is added with an empty
    annotation list. Returns the json path.
    """
    coco = json.loads((BALLOON / split / 'annotation_coco.json').read_text())
    images = coco['images'][:num_images]
    image_ids = {image['id'] for image in images}
    annotations = [ann for ann in coco['annotations'] if ann['image_id'] in image_ids]
    out_dir.mkdir(parents=True, exist_ok=True)
    for image in images:
        shutil.copy(BALLOON / split / image['file_name'], out_dir / image['file_name'])
    if add_negative:
        from PIL import Image
        with Image.open(NO_BALLOON_IMAGE) as photo:
            width, height = photo.size
        shutil.copy(NO_BALLOON_IMAGE, out_dir / NO_BALLOON_IMAGE.name)
        images.append(dict(id=max(image_ids) + 1, file_name=NO_BALLOON_IMAGE.name,
                           width=width, height=height))
    subset = dict(coco, images=images, annotations=annotations)
    json_path = out_dir / 'annotation_coco.json'
    json_path.write_text(json.dumps(subset))
    return json_path


def point_dataset_at(dataset_cfg, json_path):
    dataset_cfg.data_root = str(json_path.parent)
    dataset_cfg.ann_file = json_path.name
    dataset_cfg.data_prefix = dict(img='')


def build_dataset(dataset_cfg):
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    return DATASETS.build(copy.deepcopy(dataset_cfg))


def build_model(cfg):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    return model


def collate(items):
    return dict(inputs=[item['inputs'] for item in items],
                data_samples=[item['data_samples'] for item in items])


def total_loss(losses):
    parts = []
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        parts.extend(v.sum() for v in values)
    return sum(parts)


@pytest.fixture()
def scratch_cfg():
    return Config.fromfile(str(SCRATCH_CONFIG))


def test_negative_image_kept_by_config(scratch_cfg, tmp_path):
    json_path = write_coco_subset('train', 2, tmp_path / 'train', add_negative=True)
    dataset_cfg = scratch_cfg.train_dataloader.dataset
    point_dataset_at(dataset_cfg, json_path)

    dataset = build_dataset(dataset_cfg)
    assert len(dataset) == 3
    instance_counts = sorted(len(dataset.get_data_info(i)['instances']) for i in range(3))
    assert instance_counts[0] == 0

    filtered_cfg = copy.deepcopy(dataset_cfg)
    filtered_cfg.filter_cfg = dict(filter_empty_gt=True)
    assert len(build_dataset(filtered_cfg)) == 2


def test_batch_of_one_negative_image_trains(scratch_cfg, tmp_path):
    json_path = write_coco_subset('train', 1, tmp_path / 'train', add_negative=True)
    dataset_cfg = scratch_cfg.train_dataloader.dataset
    point_dataset_at(dataset_cfg, json_path)
    dataset = build_dataset(dataset_cfg)
    negative = next(i for i in range(len(dataset))
                    if not dataset.get_data_info(i)['instances'])
    item = dataset[negative]
    assert len(item['data_samples'].gt_instances) == 0

    model = build_model(scratch_cfg)
    model.train()
    batch = model.data_preprocessor(collate([item]), training=True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    loss = total_loss(losses)
    assert torch.isfinite(loss)
    # No boxes to regress: the box and mask losses are zero, not NaN.
    assert losses['loss_mask'].item() == 0.0
    loss.backward()
    assert model.backbone.stages[0][0].dwconv.weight.grad is not None


def test_batch_of_one_balloon_image_trains(scratch_cfg, tmp_path):
    json_path = write_coco_subset('train', 1, tmp_path / 'train')
    point_dataset_at(scratch_cfg.train_dataloader.dataset, json_path)
    dataset = build_dataset(scratch_cfg.train_dataloader.dataset)
    item = dataset[0]
    assert len(item['data_samples'].gt_instances) > 0

    model = build_model(scratch_cfg)
    model.train()
    batch = model.data_preprocessor(collate([item]), training=True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    for name in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert name in losses, name
    loss = total_loss(losses)
    assert torch.isfinite(loss)
    assert loss.item() > 0


class MetricsCatcher(Hook):
    """Keep the metrics of the last validation run."""

    def __init__(self) -> None:
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = metrics


def test_runner_train_and_coco_eval(scratch_cfg, tmp_path):
    from mmengine.runner import Runner

    train_json = write_coco_subset('train', 3, tmp_path / 'train', add_negative=True)
    val_json = write_coco_subset('val', 2, tmp_path / 'val')
    cfg = scratch_cfg
    cfg.work_dir = str(tmp_path / 'work_dir')
    point_dataset_at(cfg.train_dataloader.dataset, train_json)
    point_dataset_at(cfg.val_dataloader.dataset, val_json)
    cfg.val_evaluator.ann_file = str(val_json)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.num_workers = 0
        loader.persistent_workers = False
    # Batch size 1 over 4 images, the negative one included, in 4 steps.
    cfg.train_dataloader.batch_size = 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 4
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]

    runner = Runner.from_cfg(cfg)
    catcher = MetricsCatcher()
    runner.register_hook(catcher, priority='LOWEST')
    runner.train()

    loss_names = [name for name in runner.message_hub.log_scalars
                  if name.startswith('train/loss')]
    assert 'train/loss' in loss_names
    for name in loss_names:
        value = runner.message_hub.get_scalar(name).current()
        assert math.isfinite(value), f'{name} = {value}'

    metrics = catcher.metrics
    assert metrics is not None
    for name in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'):
        assert name in metrics, name
        assert 0.0 <= metrics[name] <= 1.0, f'{name} = {metrics[name]}'
    assert (tmp_path / 'work_dir' / 'iter_4.pth').is_file()
