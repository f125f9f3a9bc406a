# Mask R-CNN, ConvNeXt V2-A (atto) from FCMAE weights, FPN, 1x on COCO.
#
# Tiny's 1x config with the atto backbone; data, schedule, lr and
# weight decay stay. Keep the values below equal in the 1x and ms-3x
# configs of atto.
_base_ = './mask-rcnn_convnextv2-tiny_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        arch='atto',
        # The smallest model needs the least regularization: 0.1, the value
        # of the official FCMAE ImageNet-1K fine-tuning of atto.
        drop_path_rate=0.1,
        init_cfg=dict(
            checkpoint='https://dl.fbaipublicfiles.com/convnext/convnextv2/'
            'pt_only/convnextv2_atto_1k_224_fcmae.pt')),
    # The widths of the four atto stages.
    neck=dict(in_channels=[40, 80, 160, 320]))

# 12 blocks, so neck and heads are layer 13 and the stem gets
# 0.9 ** 13 = 0.25 of their lr.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9))
