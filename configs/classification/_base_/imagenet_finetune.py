# ImageNet-1K fine-tuning shared by the size configs: data, evaluation,
# AdamW with layer-wise lr decay, EMA of the weights and the runtime.
#
# Values follow the fine-tuning commands of the official ConvNeXt V2
# repository (TRAINING.md): batch 1024, AdamW, cosine schedule to 1e-6,
# RandAugment 2 ops at magnitude 9, random erasing with p=0.25, EMA 0.9999,
# 224 px. Size configs set lr, weight decay, layer decay, epochs, warmup,
# drop path, label smoothing and Mixup/CutMix.
#
# Expected layout (the validation images moved into class folders):
#   data/imagenet/train/<wnid>/*.JPEG
#   data/imagenet/val/<wnid>/*.JPEG
_base_ = ['./default_runtime.py']

data_root = 'data/imagenet'
crop_size = 224

train_pipeline = [
    dict(type='RandomResizedCrop', size=crop_size, scale=(0.08, 1.0),
         interpolation='bicubic', antialias=True),
    dict(type='RandomHorizontalFlip', p=0.5),
    # torchvision's RandAugment with the official op count and magnitude. The
    # official code uses timm's variant, which adds magnitude noise (std 0.5).
    dict(type='RandAugment', num_ops=2, magnitude=9, interpolation='bicubic'),
    dict(type='PILToTensor'),
    # Erased boxes take the ImageNet mean colour, which normalizes to zero.
    # The official code fills them with Gaussian noise after normalization.
    dict(type='RandomErasing', p=0.25, value=[124, 116, 104]),
]
val_pipeline = [
    # 224 / 256 = 0.875 crop ratio.
    dict(type='Resize', size=256, interpolation='bicubic', antialias=True),
    dict(type='CenterCrop', size=crop_size),
]

# 8 GPUs x 128 images = 1024 a step, the official batch size.
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='cnx2_backbone.ImageFolderDataset', data_root=data_root + '/train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='cnx2_backbone.ImageFolderDataset', data_root=data_root + '/val',
                 pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='cnx2_backbone.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

# Size configs set lr and weight_decay of the optimizer and decay_rate.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9))
# Lets `--cfg-options auto_scale_lr.enable=True` rescale lr for other batch sizes.
auto_scale_lr = dict(enable=False, base_batch_size=1024)

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Weight EMA with decay 0.9999 (mmengine's momentum is 1 - decay). Validation
# and the saved state_dict use the averaged weights, and the raw ones are
# saved under 'ema_state_dict'.
custom_hooks = [dict(type='EMAHook', momentum=1e-4, update_buffers=True, priority='ABOVE_NORMAL')]
