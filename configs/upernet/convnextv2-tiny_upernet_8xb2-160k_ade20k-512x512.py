# UperNet + ConvNeXt V2-T fine-tuned from FCMAE weights on ADE20K (150 classes).
#
# Recipe for 8 GPUs with 2 images each. Train and test with
#   python tools/train.py configs/upernet/THIS_FILE.py [--amp]
#   torchrun --nproc_per_node 8 tools/train.py configs/upernet/THIS_FILE.py --launcher pytorch
# --amp selects mixed precision per machine: mmengine's AmpOptimWrapper
# (float16 with dynamic loss scaling) on GPU, bfloat16 autocast on CPU. It is
# a switch of the tool and not of this file, because AmpOptimWrapper raises
# on a CPU-only machine.
#
# NOTE: the ConvNeXt V2 authors released no segmentation configs. The drop
# path and layer-decay values below are untuned choices, explained per line.
_base_ = [
    '../_base_/models/upernet_convnextv2.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]

crop_size = (512, 512)
num_classes = 150
# FCMAE-only weights (no supervised fine-tuning) published with ConvNeXt V2.
# The loader converts their sparse-conv encoder to dense keys and skips the
# decoder side.
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_tiny_1k_224_fcmae.pt'  # noqa: E501

model = dict(
    # Random crops are padded to 512x512 so that a batch stacks.
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='tiny',
        # Stochastic depth regularizes fine-tuning on ADE20K's 20k training
        # images: 0.2 for the 18-block tiny model, more for larger ones.
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=num_classes),
    auxiliary_head=dict(in_channels=384, num_classes=num_classes),
    # mmseg's ADE20K test pipeline resizes images to fit 2048x512, a 512-pixel
    # short side for all but very wide images. Sliding 512x512 windows keep
    # test inputs at the training crop size. A stride of 341 (2/3 of the
    # window) makes neighbouring windows overlap by a third.
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# 8 GPUs x 2 images = 16 images a step, as in mmseg's ConvNeXt UperNet
# recipes that the optimizer settings below come from.
train_dataloader = dict(batch_size=2)
# Lets `--cfg-options auto_scale_lr.enable=True` rescale lr for other GPU counts.
auto_scale_lr = dict(enable=False, base_batch_size=16)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # AdamW with lr 1e-4 and weight decay 0.05, as mmseg's ConvNeXt-B
    # UperNet recipe uses at batch size 16.
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    # Earlier blocks keep more of their pretrained features: block i of the
    # 18 gets lr * 0.9 ** (19 - i), so the stem trains at 0.9 ** 19 = 0.135 x lr.
    # Norms, GRN parameters and biases get no weight decay.
    constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.9))

max_iters = 160000
warmup_iters = 1500
param_scheduler = [
    # A linear warmup from ~0 keeps the first AdamW steps, whose second-moment
    # estimates are still noisy, from disturbing the pretrained weights.
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    # Then linear (power 1) decay to 0 over the remaining iterations.
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
