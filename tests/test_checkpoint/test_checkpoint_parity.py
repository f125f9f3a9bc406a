"""Numerical parity with timm and Hugging Face transformers for every ConvNeXt V2 size.

Each peer model gets random weights and is saved in its own file format.
This package's classifier and backbone load that file, and their logits and
raw stage outputs must match the peer's on the same input.
"""
import gc

import pytest
import torch
from ckpt_helpers import max_abs_diff, randomize_

from cnx2_backbone import ConvNeXtV2, ConvNeXtV2Classifier, load_pretrained
from cnx2_backbone.models import ARCH_SETTINGS

timm = pytest.importorskip('timm')
transformers = pytest.importorskip('transformers')

SIZES = ('atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge')
NUM_CLASSES = 10
# The smallest input the models accept: the forward of huge stays short.
INPUT_SHAPE = (1, 3, 32, 32)
TOLERANCE = 1e-4


def build_timm(size):
    return timm.create_model(f'convnextv2_{size}', pretrained=False, num_classes=NUM_CLASSES)


def timm_outputs(model, images):
    # One pass: the last stage output continues through timm's head.
    last, features = model.forward_intermediates(images)
    return model.forward_head(last), list(features)


def save_timm(model, path):
    torch.save(model.state_dict(), path / 'timm_model.pth')
    return path / 'timm_model.pth'


def build_hf(size):
    setting = ARCH_SETTINGS[size]
    # layer_norm_eps (final norm) keeps the transformers default of 1e-12,
    # as in the published facebook/convnextv2-* configs.
    config = transformers.ConvNextV2Config(depths=list(setting['depths']),
                                           hidden_sizes=list(setting['dims']),
                                           num_labels=NUM_CLASSES)
    return transformers.ConvNextV2ForImageClassification(config)


def hf_outputs(model, images):
    output = model(images, output_hidden_states=True)
    # hidden_states[0] is the stem output, and entries 1..4 are the stage outputs.
    return output.logits, list(output.hidden_states[1:])


def save_hf(model, path):
    model.save_pretrained(path / 'hf_model')
    return path / 'hf_model'


PEERS = {
    'timm': (build_timm, timm_outputs, save_timm),
    'hf': (build_hf, hf_outputs, save_hf),
}


@pytest.fixture(scope='module', params=SIZES)
def our_models(request):
    """Classifier and backbone of one size, shared by the timm and HF tests.

    Module scope makes pytest run both peers of a size together and free
    the models before building the next size (huge has 660M parameters).
    """
    size = request.param
    classifier = ConvNeXtV2Classifier(arch=size, num_classes=NUM_CLASSES).eval()
    backbone = ConvNeXtV2(arch=size).eval()
    yield size, classifier, backbone
    del classifier, backbone
    gc.collect()


@pytest.mark.parametrize('peer', sorted(PEERS))
@torch.no_grad()
def test_peer_parity(our_models, peer, tmp_path):
    size, classifier, backbone = our_models
    build, run, save = PEERS[peer]
    images = torch.randn(INPUT_SHAPE)

    # Reference outputs first, then free the peer before loading its file.
    peer_model = randomize_(build(size).eval(), matrices=False)
    peer_logits, peer_features = run(peer_model, images)
    checkpoint = save(peer_model, tmp_path)
    del peer_model
    gc.collect()

    report = load_pretrained(classifier, checkpoint)
    assert report.layout == peer
    assert report.missing == {}
    assert report.unexpected == {}
    logits_diff = max_abs_diff(classifier(images), peer_logits)
    assert logits_diff < TOLERANCE, f'{size} {peer}: max logit difference {logits_diff:.2e}'

    load_pretrained(backbone, checkpoint)
    stage_outputs = backbone.forward_stages(images)
    for index, (ours, theirs) in enumerate(zip(stage_outputs, peer_features)):
        assert ours.shape == theirs.shape, f'stage {index} shape'
        # Relative above 1: late stages of the big random models reach |x| > 10.
        scale = max(1.0, theirs.abs().max().item())
        diff = max_abs_diff(ours, theirs)
        assert diff <= TOLERANCE * scale, f'stage {index}: {diff:.2e} (scale {scale:.1f})'
