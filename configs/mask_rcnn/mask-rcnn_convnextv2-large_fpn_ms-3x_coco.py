# Mask R-CNN, ConvNeXt V2-L (large) from FCMAE weights, FPN, multi-scale 3x on COCO.
#
# Tiny's ms-3x config with the large backbone; data, schedule, lr and
# weight decay stay. Keep the values below equal in the 1x and ms-3x
# configs of large.
_base_ = './mask-rcnn_convnextv2-tiny_fpn_ms-3x_coco.py'

model = dict(
    backbone=dict(
        arch='large',
        # Same depth as base, 1.5x wider: one step above base, 0.5.
        drop_path_rate=0.5,
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/'
            'pt_only/convnextv2_large_1k_224_fcmae.pt')),
    # The widths of the four large stages.
    neck=dict(in_channels=[192, 384, 768, 1536]))

# 36 blocks, so neck and heads are layer 37. With tiny's 0.9 the
# stem would get 0.9 ** 37 = 0.020 of their lr and barely move;
# 0.95 ** 37 = 0.15 keeps it near tiny's 0.14.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95))
