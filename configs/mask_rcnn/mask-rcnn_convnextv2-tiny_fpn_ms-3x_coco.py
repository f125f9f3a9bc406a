# Mask R-CNN, ConvNeXt V2-T from FCMAE weights, FPN, multi-scale 3x on COCO.
#
# The 1x config with multi-scale training and three times the epochs. The
# other sizes' ms-3x configs inherit this one and change only the backbone.
_base_ = './mask-rcnn_convnextv2-tiny_fpn_1x_coco.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    # The shorter side is drawn from 480 to 800 px in steps of 32, the longer
    # side capped at 1333: the multi-scale range of ConvNeXt V1's Mask R-CNN
    # 3x recipe. Testing stays at mmdet's single scale (1333, 800).
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 480), (1333, 512), (1333, 544), (1333, 576), (1333, 608),
                (1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768),
                (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# 36 epochs with the lr divided by 10 after epochs 27 and 33, as in
# ConvNeXt V1's Mask R-CNN 3x recipe.
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    # 500 iterations of linear warmup from 0.001 x lr, as in the 1x schedule.
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1),
]
