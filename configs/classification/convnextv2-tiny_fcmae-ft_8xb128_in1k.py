# ConvNeXt V2-Tiny fine-tuned on ImageNet-1K from its FCMAE weights.
#
# Train and test with, CONFIG being this file,
#   torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch --amp
#   python tools/test.py CONFIG work_dirs/<config name>/best_accuracy_top1_epoch_N.pth
#
# Recipe of the official tiny fine-tuning command (ConvNeXt V2 TRAINING.md),
# with its per-block ("single") layer-wise lr decay.
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    './_base_/imagenet_finetune.py',
]

# FCMAE-only weights (no supervised fine-tuning) published with ConvNeXt V2.
# The loader keeps the encoder and drops the decoder and mask token.
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_tiny_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    classifier=dict(
        arch='tiny',
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    label_smoothing=0.1,
    batch_augment=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5))

# lr = base lr 0.0008 x batch 1024 / 256, the official scaling rule.
base_lr = 0.0008 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9))

train_cfg = dict(max_epochs=300)
# Linear warmup over 40 epochs, then cosine decay to 1e-6, stepped per iteration.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, eta_min=1e-6, by_epoch=True,
         begin=40, end=300, convert_to_iter_based=True),
]
