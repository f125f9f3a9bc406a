# UperNet + ConvNeXt V2-A on the bundled CamVid subset, from random weights:
# the baseline for the FCMAE run, with the same data, steps and optimizer.
#   python tools/train.py configs/upernet/convnextv2-atto_upernet_scratch_camvid-mini.py
_base_ = ['./convnextv2-atto_upernet_fcmae-ft_camvid-mini.py']

# Truncated-normal initialization (std 0.02) of the backbone's own constructor.
model = dict(backbone=dict(init_cfg=None))
