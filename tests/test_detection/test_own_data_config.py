"""The own-data config of docs/detection.md, on a two-class copy of balloon images."""
import copy
import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import cnx2_backbone  # noqa: E402,F401

REPO_ROOT = Path(__file__).resolve().parents[2]
BALLOON = REPO_ROOT / 'demo/data/balloon'
BALLOON_CONFIG = REPO_ROOT / 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon.py'

# The example of docs/detection.md with the base given by absolute path and
# the data root filled in by the test.
OWN_CONFIG = """
_base_ = ['{base}']

data_root = '{data_root}/'
metainfo = dict(classes=('crack', 'rust'), palette=[(220, 20, 60), (0, 128, 255)])
num_classes = 2

train_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=metainfo,
    ann_file='train/annotation_coco.json', data_prefix=dict(img='train/')))
val_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=metainfo,
    ann_file='val/annotation_coco.json', data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'val/annotation_coco.json')
test_evaluator = val_evaluator

model = dict(roi_head=dict(
    bbox_head=dict(num_classes=num_classes), mask_head=dict(num_classes=num_classes)))
"""


def write_two_class_split(split, out_dir, num_images=2):
    """Copy balloon images, calling every second balloon 'rust' and the others 'crack'."""
    coco = json.loads((BALLOON / split / 'annotation_coco.json').read_text())
    images = coco['images'][:num_images]
    image_ids = {image['id'] for image in images}
    annotations = [dict(ann, category_id=1 + index % 2) for index, ann in
                   enumerate(a for a in coco['annotations'] if a['image_id'] in image_ids)]
    (out_dir / split).mkdir(parents=True)
    for image in images:
        shutil.copy(BALLOON / split / image['file_name'], out_dir / split / image['file_name'])
    categories = [dict(id=1, name='crack'), dict(id=2, name='rust')]
    subset = dict(coco, images=images, annotations=annotations, categories=categories)
    (out_dir / split / 'annotation_coco.json').write_text(json.dumps(subset))


@pytest.fixture()
def own_config(tmp_path):
    data_root = tmp_path / 'my_set'
    write_two_class_split('train', data_root)
    write_two_class_split('val', data_root)
    config_path = tmp_path / 'mask-rcnn_convnextv2-atto_my-set.py'
    config_path.write_text(OWN_CONFIG.format(base=BALLOON_CONFIG, data_root=data_root))
    cfg = Config.fromfile(str(config_path))
    cfg.model.backbone.init_cfg = None
    return cfg


def test_own_data_dataset_has_both_classes(own_config):
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    dataset = DATASETS.build(copy.deepcopy(own_config.train_dataloader.dataset))
    assert dataset.metainfo['classes'] == ('crack', 'rust')
    labels = {instance['bbox_label'] for i in range(len(dataset))
              for instance in dataset.get_data_info(i)['instances']}
    assert labels == {0, 1}


def test_own_data_evaluator_points_at_val_json(own_config):
    assert Path(own_config.val_evaluator.ann_file).is_file()
    assert own_config.test_evaluator.ann_file == own_config.val_evaluator.ann_file


def test_own_data_model_trains_one_step(own_config):
    from mmdet.registry import DATASETS, MODELS
    init_default_scope('mmdet')
    dataset = DATASETS.build(copy.deepcopy(own_config.train_dataloader.dataset))
    model = MODELS.build(copy.deepcopy(own_config.model))
    model.init_weights()
    assert model.roi_head.bbox_head.num_classes == 2
    assert model.roi_head.mask_head.num_classes == 2

    model.train()
    item = dataset[0]
    batch = model.data_preprocessor(dict(inputs=[item['inputs']],
                                         data_samples=[item['data_samples']]), training=True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    for name in ('loss_cls', 'loss_bbox', 'loss_mask'):
        assert torch.isfinite(losses[name]), name
