# Mask R-CNN + ConvNeXt V2-A on the bundled balloon subset, from the
# backbone that the FCMAE demo pretraining exports.
#
# A CPU-sized run on real data: 16 training images, one class, 120 steps of
# 2 images (15 epochs). The scratch variant of this file differs only in
# init_cfg, so the two give a like-for-like comparison of the starting
# weights. Run from the repository root (data and checkpoint paths are
# relative to it):
#   python tools/pretrain.py configs/fcmae/convnextv2-atto_fcmae_demo.py
#       (writes work_dirs/fcmae_demo/backbone.pth, read below)
#   python tools/train.py configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon.py
#   python tools/test.py configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon.py \
#       work_dirs/mask-rcnn_convnextv2-atto_balloon/iter_120.pth
# --amp gives float16 AMP on GPU, and bfloat16 autocast of backbone and FPN
# on CPU.
_base_ = [
    '../_base_/models/mask-rcnn_convnextv2_fpn.py',
    '../_base_/datasets/balloon_instance.py',
    'mmdet::_base_/default_runtime.py',
]

fcmae_backbone = 'work_dirs/fcmae_demo/backbone.pth'

# CPU-sized heads: FPN, RPN and RoI heads with 128 instead of mmdet's 256
# channels, which cuts their convolution cost about fourfold. On two CPU
# cores the heads, not atto, dominate the time of a step.
head_channels = 128

model = dict(
    backbone=dict(
        # The smallest ConvNeXt V2 (3.4M parameters in the backbone).
        arch='atto',
        # Light stochastic depth: 120 steps are too few for strong
        # regularization to pay off.
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=fcmae_backbone)),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=head_channels),
    rpn_head=dict(in_channels=head_channels, feat_channels=head_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=head_channels),
        # One class instead of COCO's 80.
        bbox_head=dict(in_channels=head_channels, num_classes=1),
        mask_roi_extractor=dict(out_channels=head_channels),
        mask_head=dict(
            in_channels=head_channels, conv_out_channels=head_channels, num_classes=1)),
    # 128 sampled RoIs per image instead of 512: the bundled images have at
    # most 13 balloons, and the RoI heads' cost grows with the sample count.
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))))

optim_wrapper = dict(
    type='OptimWrapper',
    # Twice the COCO recipe's 1e-4: FPN and heads start from random weights
    # and have only 120 steps to train. Not tuned.
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    # Atto has 12 blocks: the stem trains at 0.9 ** 13 = 0.25 x lr. Kept in
    # the random-weight run too, so that only the starting weights differ.
    constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9))

max_iters = 120
warmup_iters = 12
param_scheduler = [
    # A short linear warmup, 10 % of the run, while AdamW's moment estimates
    # settle and before the RPN proposes anything useful.
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    # Then a linear decay to zero, so the last steps refine at a small lr.
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]

# Validate once, at the end: each pass over the 6 val images costs CPU time
# that the short budget spends on training.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    # Every 40 steps, so that an interrupted run loses little. The last two
    # are kept.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=40, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)

# Same data order and head initialization in both balloon runs.
randomness = dict(seed=0)
