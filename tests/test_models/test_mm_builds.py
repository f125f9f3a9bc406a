"""A real mmdet Mask R-CNN and a real mmseg UperNet with this backbone."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope

BACKBONE = dict(type='cnx2_backbone.ConvNeXtV2', arch='atto', drop_path_rate=0.1)
ATTO_DIMS = [40, 80, 160, 320]


def upstream_base(tmp_path, base):
    # A config inheriting the upstream file, as users' configs do.
    from mmengine.config import Config
    path = tmp_path / 'inherit.py'
    path.write_text(f"_base_ = ['{base}']\n")
    return Config.fromfile(str(path))


def mask_rcnn_config(tmp_path):
    cfg = upstream_base(tmp_path, 'mmdet::_base_/models/mask-rcnn_r50_fpn.py')
    model = copy.deepcopy(cfg.model)
    model.backbone = BACKBONE
    model.neck.in_channels = ATTO_DIMS
    model.roi_head.bbox_head.num_classes = 1
    model.roi_head.mask_head.num_classes = 1
    return model


def balloon_batch(demo_data, num_images=1):
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(
        data_root=str(demo_data / 'balloon'),
        ann_file='val/annotation_coco.json',
        data_prefix=dict(img='val/'),
        metainfo=dict(classes=('balloon',)),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='Resize', scale=(320, 320), keep_ratio=True),
            dict(type='PackDetInputs'),
        ])
    items = [dataset[i] for i in range(num_images)]
    return dict(inputs=[item['inputs'] for item in items],
                data_samples=[item['data_samples'] for item in items])


def test_mask_rcnn_loss_and_predict(demo_data, tmp_path):
    import cnx2_backbone  # noqa: F401
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(mask_rcnn_config(tmp_path))
    model.init_weights()
    batch = model.data_preprocessor(balloon_batch(demo_data, 1), training=True)

    model.train()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    for name in ['loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask']:
        assert name in losses, name
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.stages[0][0].dwconv.weight.grad is not None

    model.eval()
    with torch.no_grad():
        results = model.predict(batch['inputs'], batch['data_samples'])
    assert len(results) == 1
    assert hasattr(results[0].pred_instances, 'masks')


def test_upernet_loss_and_predict(demo_data, tmp_path):
    import cnx2_backbone  # noqa: F401
    from mmseg.datasets import BaseSegDataset
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = upstream_base(tmp_path, 'mmseg::_base_/models/upernet_r50.py')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.data_preprocessor.size = (128, 128)
    # mmseg's base sets a ResNet checkpoint at model level, which
    # EncoderDecoder hands to the backbone.
    model_cfg.pretrained = None
    model_cfg.backbone = BACKBONE
    model_cfg.decode_head.in_channels = ATTO_DIMS
    model_cfg.decode_head.channels = 64
    model_cfg.decode_head.num_classes = 11
    model_cfg.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model_cfg.auxiliary_head.in_channels = ATTO_DIMS[2]
    model_cfg.auxiliary_head.channels = 32
    model_cfg.auxiliary_head.num_classes = 11
    model_cfg.auxiliary_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(model_cfg)
    model.init_weights()

    dataset = BaseSegDataset(
        data_root=str(demo_data / 'camvid_mini'),
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        img_suffix='.png', seg_map_suffix='.png',
        metainfo=dict(classes=tuple(f'class{i}' for i in range(11))),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='RandomCrop', crop_size=(128, 128)),
            dict(type='PackSegInputs'),
        ])
    items = [dataset[i] for i in range(2)]
    batch = model.data_preprocessor(dict(inputs=[i['inputs'] for i in items],
                                         data_samples=[i['data_samples'] for i in items]),
                                    training=True)
    model.train()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert 'decode.loss_ce' in losses
    assert torch.isfinite(losses['decode.loss_ce'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.backbone.stages[3][0].pwconv1.weight.grad is not None

    model.eval()
    with torch.no_grad():
        results = model.predict(batch['inputs'], batch['data_samples'])
    # Predictions are resized back to the 240x180 source image.
    assert results[0].pred_sem_seg.data.shape[-2:] == (180, 240)
