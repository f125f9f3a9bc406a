# ConvNeXt V2-Atto trained on the bundled ants/bees photos from random
# weights, with the budget and schedule of the FCMAE fine-tuning config, as
# its baseline.
#
#   python tools/train.py configs/classification/convnextv2-atto_scratch_hymenoptera.py
_base_ = ['./convnextv2-atto_fcmae-ft_hymenoptera.py']

model = dict(classifier=dict(init_cfg=None))

# Layer-wise lr decay protects pretrained early layers, which this run does
# not have, so 1.0 gives every layer the full lr.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=1.0))
