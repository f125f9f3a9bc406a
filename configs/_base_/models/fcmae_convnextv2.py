# FCMAE pretraining model: ConvNeXt V2 encoder over the visible 32x32
# patches, one-block decoder, pixel loss on the masked patches. Size configs
# set ``arch``.

# Registers the model, the unlabeled image dataset and the pretraining hooks,
# so that their scoped names resolve before the Runner builds anything.
custom_imports = dict(
    imports=['cnx2_backbone', 'cnx2_backbone.datasets', 'cnx2_backbone.engine'],
    allow_failed_imports=False)

model = dict(
    type='cnx2_backbone.FCMAE',
    arch='tiny',
    patch_size=32,
    # 60 % masking, decoder width 512 and depth 1 are the ConvNeXt V2 paper's
    # choices for every model size.
    mask_ratio=0.6,
    decoder_dim=512,
    decoder_depth=1,
    norm_pix_loss=True,
    # Normalizes the RGB uint8 images of the dataset with ImageNet mean and std.
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False))
