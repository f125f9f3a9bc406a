"""FCMAE model: shapes, masking, parity with a dense masked reference, independence of samples."""
import pytest
import torch

from cnx2_backbone import FCMAE
from cnx2_backbone.models import ConvNeXtV2, ConvNeXtV2Stages
from cnx2_backbone.models.fcmae import fcmae_to_backbone_state_dict, patchify, unpatchify
from cnx2_backbone.models.fcmae_encoder import TiledWeightGradDepthwiseConv

TINY_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))


def tiny_fcmae(**kwargs):
    kwargs.setdefault('arch', TINY_ARCH)
    kwargs.setdefault('decoder_dim', 16)
    return FCMAE(**kwargs)


def stage_visible(patch_mask, stage):
    """(N, h, w) patch mask -> (N, 1, H_s, W_s) float, 1 at visible cells of ``stage``."""
    scale = 2 ** (3 - stage)
    visible = (1 - patch_mask).repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return visible.unsqueeze(1)


def dense_block(block, x, visible):
    """A block on the full map, zeroing masked cells after every operation."""
    visible_last = visible.permute(0, 2, 3, 1)  # (N, 1, H, W) -> (N, H, W, 1)
    hidden = block.dwconv(x * visible) * visible
    hidden = hidden.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    hidden = block.norm(hidden) * visible_last
    hidden = block.pwconv1(hidden) * visible_last
    hidden = block.act(hidden) * visible_last
    # Zeros add nothing to the L2 norm, so GRN's statistics cover visible cells only.
    hidden = block.grn(hidden) * visible_last
    hidden = block.pwconv2(hidden) * visible_last
    return x + hidden.permute(0, 3, 1, 2)


def dense_reference_loss(model, images, mask):
    """FCMAE loss written densely: the whole map is computed and masked after every step."""
    encoder = model.encoder
    num_samples = images.shape[0]
    rows, cols = images.shape[2] // 32, images.shape[3] // 32
    patch_mask = mask.reshape(num_samples, rows, cols).to(images.dtype)

    x = images
    for stage in range(4):
        visible = stage_visible(patch_mask, stage)
        if stage == 0:
            x = encoder.downsample_layers[0][0](x) * visible
            x = encoder.downsample_layers[0][1](x) * visible
        else:
            x = encoder.downsample_layers[stage][0](x) * stage_visible(patch_mask, stage - 1)
            x = encoder.downsample_layers[stage][1](x) * visible
        for block in encoder.stages[stage]:
            x = dense_block(block, x, visible)

    x = model.proj(x)
    token_mask = patch_mask.unsqueeze(1)
    x = x * (1 - token_mask) + model.mask_token * token_mask
    x = model.decoder(x)
    pred = model.pred(x).flatten(2).transpose(1, 2)

    target = patchify(images, 32)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    target = (target - mean) / (var + 1e-6).sqrt()
    patch_loss = (pred - target).pow(2).mean(dim=-1)
    return (patch_loss * mask).sum() / mask.sum()


def gradients(model):
    return {name: param.grad.clone() for name, param in model.named_parameters()}


@pytest.mark.parametrize('size', [(64, 96), (96, 64), (32, 32), (128, 128)])
def test_output_shapes(size):
    model = tiny_fcmae()
    images = torch.randn(2, 3, *size)
    loss, pred, mask = model(images)
    num_patches = (size[0] // 32) * (size[1] // 32)
    assert loss.ndim == 0
    assert pred.shape == (2, num_patches, 32 * 32 * 3)
    assert mask.shape == (2, num_patches)


def test_batch_size_one():
    model = tiny_fcmae()
    loss, pred, mask = model(torch.randn(1, 3, 64, 64))
    loss.backward()
    assert torch.isfinite(loss)
    assert pred.shape == (1, 4, 3072)


def test_masked_count_per_sample():
    model = tiny_fcmae(mask_ratio=0.6)
    _, _, mask = model(torch.randn(4, 3, 160, 160))
    # 25 patches: int(25 * 0.4) = 10 stay visible, 15 are masked in every sample.
    assert mask.sum(dim=1).tolist() == [15.0] * 4


def test_mask_values_binary():
    _, _, mask = tiny_fcmae()(torch.randn(2, 3, 64, 64))
    assert set(mask.unique().tolist()) <= {0.0, 1.0}


def test_masks_reproducible_under_seed():
    model = tiny_fcmae()
    images = torch.randn(3, 3, 128, 128)
    torch.manual_seed(5)
    first = model.random_mask(images)
    torch.manual_seed(5)
    second = model.random_mask(images)
    assert torch.equal(first, second)


def test_masks_differ_across_calls_and_samples():
    model = tiny_fcmae()
    images = torch.randn(4, 3, 256, 256)
    first = model.random_mask(images)
    second = model.random_mask(images)
    assert not torch.equal(first, second)
    assert not torch.equal(first[0], first[1])


@pytest.mark.parametrize('size', [(64, 96), (128, 64)])
def test_fast_path_matches_dense_reference(size):
    torch.manual_seed(1)
    model = tiny_fcmae(decoder_depth=2).double()
    images = torch.randn(3, 3, *size, dtype=torch.float64)
    mask = model.random_mask(images)

    reference = dense_reference_loss(model, images, mask)
    reference.backward()
    expected = gradients(model)

    for mode in ('tensor', 'loss'):
        model.zero_grad()
        output = model(images, mode=mode, mask=mask)
        loss = output['loss'] if mode == 'loss' else output[0]
        loss.backward()
        assert torch.allclose(loss, reference, atol=1e-5, rtol=0), mode
        for name, grad in gradients(model).items():
            assert torch.allclose(grad, expected[name], atol=1e-5, rtol=0), (mode, name)


def test_bfloat16_autocast_step():
    model = tiny_fcmae()
    images = torch.randn(2, 3, 64, 96)
    mask = model.random_mask(images)
    full_precision = model(images, mode='loss', mask=mask)['loss']
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(images, mode='loss', mask=mask)['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert abs(loss.item() - full_precision.item()) < 0.05
    assert all(torch.isfinite(param.grad).all() for param in model.parameters())


def test_train_loss_equals_reconstruct_loss():
    model = tiny_fcmae()
    images = torch.randn(2, 3, 96, 96)
    mask = model.random_mask(images)
    loss, _, _ = model(images, mask=mask)
    train_loss = model(images, mode='loss', mask=mask)['loss']
    assert torch.allclose(loss, train_loss, atol=1e-6)


def per_sample_loss(model, images, mask):
    _, pred, _ = model(images, mask=mask)
    patch_loss = model.patch_loss(images, pred)
    return (patch_loss * mask).sum(dim=1) / mask.sum(dim=1)


@pytest.mark.parametrize('norm_pix_loss', [True, False])
def test_other_sample_loss_unchanged_when_one_scaled(norm_pix_loss):
    model = tiny_fcmae(norm_pix_loss=norm_pix_loss)
    images = torch.randn(2, 3, 96, 64)
    mask = model.random_mask(images)
    scaled = images.clone()
    scaled[1] *= 100
    with torch.no_grad():
        before = per_sample_loss(model, images, mask)
        after = per_sample_loss(model, scaled, mask)
    assert torch.allclose(before[0], after[0], atol=1e-6)
    if not norm_pix_loss:
        # The raw-pixel target of the scaled sample grows 100-fold.
        assert after[1] > 100 * before[1]


def test_masked_pixels_do_not_reach_encoder():
    model = tiny_fcmae()
    images = torch.randn(2, 3, 128, 96)
    mask = model.random_mask(images)
    pixel_mask = unpatchify(mask.unsqueeze(-1).expand(-1, -1, 32 * 32 * 3), 32, 128, 96)
    changed = images + 50 * torch.randn_like(images) * pixel_mask
    with torch.no_grad():
        features = model.forward_encoder(images, mask)
        changed_features = model.forward_encoder(changed, mask)
    assert torch.equal(features, changed_features)


def test_encoder_zero_at_masked_patches():
    model = tiny_fcmae()
    images = torch.randn(2, 3, 96, 96)
    mask = model.random_mask(images)
    with torch.no_grad():
        features = model.forward_encoder(images, mask)
    masked = mask.reshape(2, 1, 3, 3).expand_as(features) > 0
    assert torch.count_nonzero(features[masked]) == 0


def test_all_parameters_get_gradients():
    model = tiny_fcmae()
    model(torch.randn(2, 3, 96, 96), mode='loss')['loss'].backward()
    missing = [name for name, param in model.named_parameters() if param.grad is None]
    assert missing == []


def test_mask_ratio_zero_trains_on_all_patches():
    model = tiny_fcmae(mask_ratio=0.0)
    images = torch.randn(2, 3, 64, 64)
    loss, pred, mask = model(images)
    assert mask.sum() == 0
    expected = model.patch_loss(images, pred).mean()
    assert torch.allclose(loss, expected)


def test_gradient_checkpointing_same_gradients():
    images = torch.randn(2, 3, 64, 96)
    torch.manual_seed(3)
    plain = tiny_fcmae()
    torch.manual_seed(3)
    checkpointed = tiny_fcmae(with_cp=True)
    mask = plain.random_mask(images)
    plain(images, mode='loss', mask=mask)['loss'].backward()
    checkpointed(images, mode='loss', mask=mask)['loss'].backward()
    for (name, param), other in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(param.grad, other.grad, atol=1e-6), name


@pytest.mark.parametrize('size', [(224, 200), (100, 96), (31, 64)])
def test_size_not_multiple_of_32_raises(size):
    model = tiny_fcmae()
    with pytest.raises(ValueError, match=rf'{size[0]}x{size[1]}.*multiples of .* 32'):
        model(torch.randn(1, 3, *size))


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match='patch_size'):
        tiny_fcmae(patch_size=16)
    with pytest.raises(ValueError, match='mask_ratio'):
        tiny_fcmae(mask_ratio=1.0)


def test_unequal_mask_counts_raise():
    model = tiny_fcmae()
    images = torch.randn(2, 3, 64, 64)
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match='same number of visible patches'):
        model(images, mask=mask)


def test_patchify_round_trip():
    images = torch.randn(2, 3, 64, 96)
    patches = patchify(images, 32)
    assert patches.shape == (2, 6, 3072)
    assert torch.equal(unpatchify(patches, 32, 64, 96), images)
    # Patch 1 is the second patch of the first row: columns 32..63.
    assert torch.equal(patches[0, 1, :3], images[0, :, 0, 32])


def test_encoder_keys_match_backbone():
    model = tiny_fcmae()
    trunk = ConvNeXtV2Stages(arch=TINY_ARCH).state_dict()
    exported = fcmae_to_backbone_state_dict(model.state_dict())
    assert sorted(exported) == sorted(trunk)
    assert all(exported[key].shape == trunk[key].shape for key in trunk)


def test_exported_encoder_loads_into_backbone():
    model = tiny_fcmae()
    backbone = ConvNeXtV2(arch=TINY_ARCH)
    result = backbone.load_state_dict(fcmae_to_backbone_state_dict(model.state_dict()),
                                      strict=False)
    assert result.unexpected_keys == []
    assert all(key.startswith('norm') for key in result.missing_keys)
    assert torch.equal(backbone.stages[2][1].grn.gamma, model.encoder.stages[2][1].grn.gamma)


def test_full_visibility_equals_backbone_trunk():
    model = tiny_fcmae()
    trunk = ConvNeXtV2Stages(arch=TINY_ARCH)
    trunk.load_state_dict(fcmae_to_backbone_state_dict(model.state_dict()))
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = images
        for stage in range(4):
            expected = trunk.forward_stage(expected, stage)
        features = model.forward_encoder(images, torch.zeros(1, 4))
    assert torch.allclose(features, expected, atol=1e-5)


def test_tiled_weight_gradient_matches_dense_conv():
    patch_mask = torch.tensor([[[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]])  # (1, 2, 3) patches
    visible = (1 - patch_mask).repeat_interleave(8, 1).repeat_interleave(8, 2)[:, None]
    conv = torch.nn.Conv2d(4, 4, 7, padding=3, groups=4).double()
    x = (torch.randn(1, 4, 16, 24, dtype=torch.float64) * visible).requires_grad_()
    grad = torch.randn(1, 4, 16, 24, dtype=torch.float64) * visible

    conv(x).backward(grad)
    expected = (x.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone())
    x.grad = None
    conv.zero_grad()
    patches = (patch_mask == 0).nonzero(as_tuple=True)
    TiledWeightGradDepthwiseConv.apply(x, conv.weight, conv.bias, patches, 8).backward(grad)
    assert torch.allclose(x.grad, expected[0])
    assert torch.allclose(conv.weight.grad, expected[1])
    assert torch.allclose(conv.bias.grad, expected[2])
