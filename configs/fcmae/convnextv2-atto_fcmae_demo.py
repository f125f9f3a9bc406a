# FCMAE pretraining of ConvNeXt V2-Atto on the training photos bundled in
# demo/data (ants and bees, balloons, CamVid street scenes: 96 images), sized
# for a few minutes on two CPU cores. It shows the loss falling and writes
# work_dirs/fcmae_demo/backbone.pth, the starting point of the *_fcmae-ft_*
# demo configs for classification and segmentation. The val photos stay
# unseen, so those configs evaluate on images the encoder never saw. Run from
# the repository root:
#   python tools/pretrain.py configs/fcmae/convnextv2-atto_fcmae_demo.py
_base_ = ['../_base_/models/fcmae_convnextv2.py']

model = dict(arch='atto')

# The fine-tuning demo configs read the export from this folder.
work_dir = 'work_dirs/fcmae_demo'

crop_size = 160
batch_size = 16
max_iters = 300
warmup_iters = 30

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='cnx2_backbone.UnlabeledImageFolder',
        # Training photos only; camvid_mini/ann_dir contains label maps.
        data_root=['demo/data/hymenoptera/train', 'demo/data/balloon/train',
                   'demo/data/camvid_mini/img_dir/train'],
        pipeline=[
            dict(type='RandomResizedCrop', size=crop_size, scale=(0.2, 1.0),
                 interpolation='bicubic', antialias=True),
            dict(type='RandomHorizontalFlip'),
        ]))

optim_wrapper = dict(
    type='OptimWrapper',
    # Far above the ImageNet recipe's 1.5e-4 * 16 / 256: this run has a few
    # hundred steps, not 1600 epochs.
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05, fused=True),
    paramwise_cfg=dict(flat_decay_mult=0.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=1e-5,
         by_epoch=False, begin=warmup_iters, end=max_iters),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=100, by_epoch=False, max_keep_ckpts=2),
)
custom_hooks = [
    dict(type='cnx2_backbone.NonFiniteLossHook'),
    dict(type='cnx2_backbone.ThroughputHook'),
    dict(type='cnx2_backbone.ExportBackboneHook', filename='backbone.pth'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
log_processor = dict(window_size=10, by_epoch=False)
log_level = 'INFO'
randomness = dict(seed=0, diff_rank_seed=True)
load_from = None
resume = False
