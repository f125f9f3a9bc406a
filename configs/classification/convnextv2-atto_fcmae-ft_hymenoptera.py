# ConvNeXt V2-Atto fine-tuned on the bundled ants/bees photos (2 classes,
# 48 train / 24 val images) from the FCMAE demo export.
#
# First write the export with the FCMAE demo config (see configs/fcmae/),
# then train and test with
#   python tools/train.py configs/classification/convnextv2-atto_fcmae-ft_hymenoptera.py
#   python tools/test.py configs/classification/convnextv2-atto_fcmae-ft_hymenoptera.py \
#       work_dirs/convnextv2-atto_fcmae-ft_hymenoptera/iter_120.pth
# convnextv2-atto_scratch_hymenoptera.py trains the same budget from random weights.
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    '../_base_/datasets/hymenoptera.py',
    './_base_/default_runtime.py',
]

# Backbone weights written by tools/export_backbone.py for the FCMAE demo run.
checkpoint = 'work_dirs/fcmae_demo/backbone.pth'

model = dict(
    classifier=dict(
        arch='atto',
        num_classes=2,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    label_smoothing=0.1,
    # As in the official atto recipe, no Mixup/CutMix.
    batch_augment=None)

# 120 steps of 16 images = 40 passes over the 48 training images: about 6 CPU
# minutes, 12 to 13 minutes of wall time on two cores shared with other jobs.
max_iters = 120
warmup_iters = 10
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=40)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(
    type='OptimWrapper',
    # A higher lr than the ImageNet recipes (8e-4 at batch 1024): this run
    # has 120 steps of 16 images instead of hundreds of epochs.
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=1e-6,
         by_epoch=False, begin=warmup_iters, end=max_iters),
]

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=40, max_keep_ckpts=1, save_best='accuracy/top1',
                    rule='greater'))
log_processor = dict(by_epoch=False)
# No weight EMA: over 120 steps an average with decay 0.9999 would stay close
# to the initial weights.
custom_hooks = []
randomness = dict(seed=0)
