# Mask R-CNN, ConvNeXt V2-N (nano) from FCMAE weights, FPN, 1x on COCO.
#
# Tiny's 1x config with the nano backbone; data, schedule, lr and
# weight decay stay. Keep the values below equal in the 1x and ms-3x
# configs of nano.
_base_ = './mask-rcnn_convnextv2-tiny_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        arch='nano',
        # Two blocks deeper and wider than pico: 0.2, halfway to tiny.
        drop_path_rate=0.2,
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/'
            'pt_only/convnextv2_nano_1k_224_fcmae.pt')),
    # The widths of the four nano stages.
    neck=dict(in_channels=[80, 160, 320, 640]))

# 14 blocks, so neck and heads are layer 15 and the stem gets
# 0.9 ** 15 = 0.21 of their lr.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9))
