# Mask R-CNN + ConvNeXt V2-A on the bundled balloon subset, from random
# weights: the baseline for the FCMAE run, with the same data, steps, lr and
# seed; only the backbone's starting weights differ.
#   python tools/train.py configs/mask_rcnn/mask-rcnn_convnextv2-atto_balloon_scratch.py
_base_ = './mask-rcnn_convnextv2-atto_balloon.py'

# Truncated normal (std 0.02) for the convs and linears, as the backbone
# initializes itself when no checkpoint is given.
model = dict(backbone=dict(init_cfg=None))
