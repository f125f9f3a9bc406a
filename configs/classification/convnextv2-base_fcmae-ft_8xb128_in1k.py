# ConvNeXt V2-Base fine-tuned on ImageNet-1K from its FCMAE weights.
#
# Train and test with, CONFIG being this file,
#   torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch --amp
#   python tools/test.py CONFIG work_dirs/<config name>/best_accuracy_top1_epoch_N.pth
#
# Recipe of the official base fine-tuning command (ConvNeXt V2 TRAINING.md),
# except for the layer decay, see decay_rate below.
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    './_base_/imagenet_finetune.py',
]

# FCMAE-only weights (no supervised fine-tuning) published with ConvNeXt V2.
# The loader keeps the encoder and drops the decoder and mask token.
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_base_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    classifier=dict(
        arch='base',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    label_smoothing=0.1,
    batch_augment=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5))

# lr = base lr 0.000625 x batch 1024 / 256, the official scaling rule.
base_lr = 0.000625 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.05),
    # NOTE: the official base recipe uses layer decay 0.6 over 14 groups of
    # about three blocks ('group' mode), which scales the stem lr by
    # 0.6 ** 13 = 1.3e-3. The constructor here decays per block (38 layers for
    # depths 3-3-27-3). With 0.836 ** 37 = 1.3e-3 the stem gets the same scale,
    # but the blocks in between get other scales than in group mode.
    paramwise_cfg=dict(decay_rate=0.836))

train_cfg = dict(max_epochs=100)
# Linear warmup over 20 epochs, then cosine decay to 1e-6, stepped per iteration.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=1e-6, by_epoch=True,
         begin=20, end=100, convert_to_iter_based=True),
]
