# Mask R-CNN, ConvNeXt V2-P (pico) from FCMAE weights, FPN, multi-scale 3x on COCO.
#
# Tiny's ms-3x config with the pico backbone; data, schedule, lr and
# weight decay stay. Keep the values below equal in the 1x and ms-3x
# configs of pico.
_base_ = './mask-rcnn_convnextv2-tiny_fpn_ms-3x_coco.py'

model = dict(
    backbone=dict(
        arch='pico',
        # Same depth as atto, still small: the same 0.1.
        drop_path_rate=0.1,
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/'
            'pt_only/convnextv2_pico_1k_224_fcmae.pt')),
    # The widths of the four pico stages.
    neck=dict(in_channels=[64, 128, 256, 512]))

# 12 blocks, so neck and heads are layer 13 and the stem gets
# 0.9 ** 13 = 0.25 of their lr.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9))
