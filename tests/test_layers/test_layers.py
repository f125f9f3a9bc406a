import pytest
import torch
from torch.nn import functional as F

from cnx2_backbone.layers import GRN, DropPath, LayerNorm2d


def reference_grn(x, gamma, beta, eps=1e-6):
    # Formula of the ConvNeXt V2 paper, channels-last (N, H, W, C).
    global_norm = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
    scale = global_norm / (global_norm.mean(dim=-1, keepdim=True) + eps)
    return gamma * (x * scale) + beta + x


def test_grn_matches_formula():
    grn = GRN(8)
    with torch.no_grad():
        grn.gamma.normal_()
        grn.beta.normal_()
    x = torch.randn(2, 5, 7, 8)
    expected = reference_grn(x, grn.gamma, grn.beta)
    torch.testing.assert_close(grn(x), expected, atol=1e-5, rtol=1e-5)


def test_grn_zero_init_is_identity():
    x = torch.randn(2, 3, 3, 4)
    torch.testing.assert_close(GRN(4)(x), x)


def test_grn_statistics_per_sample():
    grn = GRN(4)
    with torch.no_grad():
        grn.gamma.fill_(1.0)
    x = torch.randn(2, 3, 3, 4)
    scaled = x.clone()
    scaled[1] *= 100
    torch.testing.assert_close(grn(scaled)[0], grn(x)[0])


def test_grn_float16_large_values_finite():
    grn = GRN(4)
    with torch.no_grad():
        grn.gamma.fill_(0.5)
    # The squared sum of these values overflows float16 (max 65504).
    x = torch.full((1, 16, 16, 4), 3000.0, dtype=torch.float16)
    out = grn.half()(x)
    assert torch.isfinite(out).all()


def test_layernorm2d_matches_channels_last():
    norm = LayerNorm2d(6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 5, 3)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, 1e-6)
    torch.testing.assert_close(norm(x), expected.permute(0, 3, 1, 2))


def test_drop_path_eval_is_identity():
    layer = DropPath(0.5).eval()
    x = torch.randn(8, 3, 4, 4)
    assert torch.equal(layer(x), x)


def test_drop_path_train_drops_samples():
    layer = DropPath(0.5).train()
    x = torch.ones(64, 3, 2, 2)
    out = layer(x)
    per_sample = out.flatten(1)
    # Every sample is either dropped (all 0) or kept and scaled by 2.
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample.sum(1) == 0).any()
    assert (per_sample.sum(1) > 0).any()


def test_drop_path_rejects_bad_rate():
    with pytest.raises(ValueError, match='drop_prob'):
        DropPath(1.0)
