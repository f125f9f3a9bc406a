# FCMAE pretraining of ConvNeXt V2-Pico on ImageNet-1K, 1600 epochs.
# See _base_/fcmae_in1k_1600e.py for the recipe and the batch layout.
_base_ = ['./_base_/fcmae_in1k_1600e.py']

model = dict(arch='pico')
