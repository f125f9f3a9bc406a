# UperNet + ConvNeXt V2-A on the bundled CamVid subset, from the backbone
# that the FCMAE demo pretraining exports.
#
# A CPU-sized run on real data: 32 training images, 11 classes, 160 steps
# of 8 crops (40 passes over the images).
# convnextv2-atto_upernet_scratch_camvid-mini.py differs only in init_cfg,
# so the two give a like-for-like comparison of the starting weights. Run from the repository root (data and checkpoint paths are
# relative to it):
#   python tools/train.py configs/upernet/convnextv2-atto_upernet_fcmae-ft_camvid-mini.py
#   python tools/test.py configs/upernet/convnextv2-atto_upernet_fcmae-ft_camvid-mini.py \
#       work_dirs/convnextv2-atto_upernet_fcmae-ft_camvid-mini/iter_160.pth
# --amp gives bfloat16 autocast on CPU and float16 AMP on GPU.
_base_ = [
    '../_base_/models/upernet_convnextv2.py',
    '../_base_/datasets/camvid_mini.py',
    'mmseg::_base_/default_runtime.py',
]

crop_size = (160, 160)
num_classes = 11
# Plain BatchNorm in the heads: SyncBN raises under torch.distributed on CPU
# (gloo), and these runs are meant for CPU machines.
norm_cfg = dict(type='BN', requires_grad=True)
# Backbone weights that tools/pretrain.py writes at the end of
# configs/fcmae/convnextv2-atto_fcmae_demo.py.
fcmae_backbone = 'work_dirs/fcmae_demo/backbone.pth'

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        # The smallest ConvNeXt V2 (3.4M parameters in the backbone), which
        # trains a few hundred steps in minutes on two CPU cores.
        arch='atto',
        # Light stochastic depth: 160 steps are too few for strong
        # regularization to pay off.
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=fcmae_backbone)),
    decode_head=dict(
        in_channels=[40, 80, 160, 320],
        # 64 instead of mmseg's 512 channels, close to atto's 40-channel
        # stride-4 features. Per 160x160 crop the head then costs 0.33
        # GFLOPs against the backbone's 0.28, where 128 channels would cost
        # 1.30 (mmengine's FlopAnalyzer).
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=160,
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    # The 240x180 val images are small enough to run whole.
    test_cfg=dict(mode='whole'))

optim_wrapper = dict(
    type='OptimWrapper',
    # Higher than the ADE20K recipe's 1e-4: the heads start from random
    # weights and have only 160 steps to train. Not tuned.
    optimizer=dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.05),
    # Atto has 12 blocks: the stem trains at 0.9 ** 13 = 0.25 x lr. Kept in
    # the random-weight run too, so that only the starting weights differ.
    constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9))

max_iters = 160
warmup_iters = 16
param_scheduler = [
    # A short linear warmup, 10 % of the run, while AdamW's moment estimates settle.
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]

# Validate once, at the end: each pass over the 12 val images costs CPU time
# that the short budget spends on training.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))

# Same data order and head initialization in both CamVid runs.
randomness = dict(seed=0)
