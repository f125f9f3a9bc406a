# Mask R-CNN, ConvNeXt V2-T from FCMAE weights, FPN, 1x schedule on COCO.
#
# This is the reference config of the folder: the other sizes inherit it and
# change only the backbone, and the ms-3x configs add multi-scale training
# and the longer schedule. The data, the 12-epoch schedule (lr steps after
# epochs 8 and 11, 500-iteration linear warmup) and the runtime are mmdet's
# own base files; data_root is mmdet's default 'data/coco/'.
_base_ = [
    '../_base_/models/mask-rcnn_convnextv2_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        arch='tiny',
        # Grows with model size, from 0.1 (atto) to 0.6 (huge). For tiny it
        # sits between the official FCMAE ImageNet-1K fine-tuning (0.2) and
        # ConvNeXt V1's Mask R-CNN tiny recipe (0.4). Not tuned on COCO here.
        drop_path_rate=0.3,
        # The self-supervised FCMAE weights without any fine-tuning, the
        # starting point this project is about.
        # Downloaded once into torch's hub cache; offline, pass a local copy
        # with `--cfg-options model.backbone.init_cfg.checkpoint=PATH`.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/'
            'pt_only/convnextv2_tiny_1k_224_fcmae.pt')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        # Replaces the SGD of mmdet's schedule (its momentum key would stay).
        _delete_=True,
        type='AdamW',
        # For a total batch of 16 (8 GPUs x 2 images), auto_scale_lr's
        # base_batch_size. ConvNeXt V1's Mask R-CNN recipe
        # (facebookresearch/ConvNeXt, object_detection/) uses the same AdamW
        # rate and weight decay.
        lr=1e-4,
        betas=(0.9, 0.999),
        # Strong decoupled weight decay, as in ConvNeXt fine-tuning; biases,
        # norms and GRN are exempt (see the constructor).
        weight_decay=0.05),
    constructor='cnx2_backbone.LayerDecayOptimWrapperConstructor',
    # One layer per block: the stem is layer 0 and neck and heads are layer
    # 19 (18 blocks). 0.9 ** 19 = 0.135 leaves the stem at about 1/7 of the
    # heads' lr, enough to adapt it without losing the pretrained features.
    paramwise_cfg=dict(decay_rate=0.9))

# Mixed precision is an option, not the default: `tools/train.py CONFIG
# --amp` switches to float16 AMP on GPU. On CPU it runs backbone and FPN
# under bfloat16 autocast and the heads in float32, because mmcv 2.1's CPU
# nms and RoIAlign reject bfloat16 tensors.

# Keeps the lr right when the total batch is not 16 (e.g. `--cfg-options
# auto_scale_lr.enable=True` with 4 GPUs): lr is scaled by batch / 16.
auto_scale_lr = dict(enable=False, base_batch_size=16)
