# ConvNeXt V2-Nano fine-tuned on ImageNet-1K from its FCMAE weights.
#
# Train and test with, CONFIG being this file,
#   torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch --amp
#   python tools/test.py CONFIG work_dirs/<config name>/best_accuracy_top1_epoch_N.pth
#
# NOTE: the official repository documents fine-tuning commands for atto, tiny
# and base only. This config reuses the atto recipe unchanged for nano. It is
# an untested estimate, not the published setting.
_base_ = [
    '../_base_/models/convnextv2_classifier.py',
    './_base_/imagenet_finetune.py',
]

# FCMAE-only weights (no supervised fine-tuning) published with ConvNeXt V2.
# The loader keeps the encoder and drops the decoder and mask token.
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_nano_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    classifier=dict(
        arch='nano',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    label_smoothing=0.2,
    # The official atto recipe trains without Mixup/CutMix.
    batch_augment=None)

# lr = base lr 0.0002 x batch 1024 / 256, the official scaling rule.
base_lr = 0.0002 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=base_lr, weight_decay=0.3),
    paramwise_cfg=dict(decay_rate=0.9))

train_cfg = dict(max_epochs=600)
# No warmup, as in the official atto recipe. Cosine decay to 1e-6, stepped per iteration.
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=600, eta_min=1e-6, by_epoch=True,
         begin=0, end=600, convert_to_iter_based=True),
]
