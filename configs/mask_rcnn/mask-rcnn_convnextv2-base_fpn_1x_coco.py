# Mask R-CNN, ConvNeXt V2-B (base) from FCMAE weights, FPN, 1x on COCO.
#
# Tiny's 1x config with the base backbone; data, schedule, lr and
# weight decay stay. Keep the values below equal in the 1x and ms-3x
# configs of base.
_base_ = './mask-rcnn_convnextv2-tiny_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        arch='base',
        # Twice tiny's depth: 0.4, one step above tiny's 0.3.
        drop_path_rate=0.4,
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/'
            'pt_only/convnextv2_base_1k_224_fcmae.pt')),
    # The widths of the four base stages.
    neck=dict(in_channels=[128, 256, 512, 1024]))

# 36 blocks, so neck and heads are layer 37. With tiny's 0.9 the
# stem would get 0.9 ** 37 = 0.020 of their lr and barely move;
# 0.95 ** 37 = 0.15 keeps it near tiny's 0.14.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95))
