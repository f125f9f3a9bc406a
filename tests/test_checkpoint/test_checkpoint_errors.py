"""Checkpoints that do not fit the model fail with errors that name keys and shapes."""
import os

import pytest
import torch
from ckpt_helpers import SMALL_ARCH, clone_state, randomize_, to_official

from cnx2_backbone import ConvNeXtV2, ConvNeXtV2Classifier, load_pretrained
from cnx2_backbone.checkpoint import read_checkpoint

OTHER_ARCH = dict(depths=(1, 1, 2, 1), dims=(16, 24, 32, 40))


def test_unknown_layout_raises(tmp_path):
    torch.save({'fc.weight': torch.zeros(2, 2)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='No ConvNeXt V2 layout recognized'):
        load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), tmp_path / 'other.pth')


def test_no_matching_key_raises():
    # The layout is recognized, but stage 7 exists in no ConvNeXt V2.
    state = {'stages.7.0.dwconv.weight': torch.zeros(8, 1, 7, 7)}
    with pytest.raises(ValueError, match='matches none of the keys'):
        load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), state)


def test_other_arch_names_key_and_shapes():
    state = clone_state(ConvNeXtV2Classifier(arch=OTHER_ARCH))
    with pytest.raises(ValueError) as error:
        load_pretrained(ConvNeXtV2Classifier(arch=SMALL_ARCH), state)
    message = str(error.value)
    assert 'downsample_layers.0.0.weight: checkpoint (16, 3, 4, 4), model (8, 3, 4, 4)' in message
    assert 'another arch' in message


def test_other_in_channels_names_shapes():
    state = clone_state(ConvNeXtV2(arch=SMALL_ARCH, in_channels=4))
    with pytest.raises(ValueError) as error:
        load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), state)
    message = str(error.value)
    assert 'checkpoint (8, 4, 4, 4), model (8, 3, 4, 4)' in message
    assert 'in_channels=3' in message


def test_head_num_classes_skipped_when_not_strict():
    reference = clone_state(randomize_(ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=7)))
    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=3)
    initial_head = model.head.weight.detach().clone()
    report = load_pretrained(model, reference)
    assert 'head.weight' in report.skipped
    assert 'head.weight' in report.warn_skipped
    assert '7 classes' in report.skipped['head.weight']
    assert torch.equal(model.head.weight, initial_head)
    assert torch.equal(model.norm.weight, reference['norm.weight'])


def test_head_num_classes_raises_when_strict():
    reference = clone_state(ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=7))
    model = ConvNeXtV2Classifier(arch=SMALL_ARCH, num_classes=3)
    with pytest.raises(ValueError, match='num_classes=3'):
        load_pretrained(model, reference, strict=True)


def test_strict_missing_head_raises():
    reference = clone_state(ConvNeXtV2Classifier(arch=SMALL_ARCH))
    trunk = {k: v for k, v in reference.items() if not k.startswith(('norm.', 'head.'))}
    with pytest.raises(ValueError, match='4 missing keys'):
        load_pretrained(ConvNeXtV2Classifier(arch=SMALL_ARCH), trunk, strict=True)


def test_strict_exact_match_loads():
    reference = clone_state(ConvNeXtV2Classifier(arch=SMALL_ARCH))
    report = load_pretrained(ConvNeXtV2Classifier(arch=SMALL_ARCH), to_official(reference),
                             strict=True)
    assert report.missing == {}


def test_two_models_need_prefix():
    reference = clone_state(ConvNeXtV2(arch=SMALL_ARCH))
    state = {'teacher.' + k: v for k, v in reference.items()}
    state.update({'student.' + k: v for k, v in reference.items()})
    with pytest.raises(ValueError, match='Pass prefix='):
        load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), state)


def test_missing_prefix_raises():
    reference = clone_state(ConvNeXtV2(arch=SMALL_ARCH))
    with pytest.raises(ValueError, match="prefix 'backbone.'"):
        load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), reference, prefix='backbone.')


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_pretrained(ConvNeXtV2(arch=SMALL_ARCH), tmp_path / 'absent.pth')


class _RunsCode:
    """Pickles as a call of exec(source), like a malicious checkpoint would."""

    def __init__(self, source):
        self.source = source

    def __reduce__(self):
        return exec, (self.source,)


class _RunsShell:
    def __reduce__(self):
        return os.system, ('true',)


def test_checkpoint_code_never_runs(tmp_path):
    marker = tmp_path / 'executed'
    state = clone_state(ConvNeXtV2(arch=SMALL_ARCH))
    payload = _RunsCode(f'open({str(marker)!r}, "w").close()')
    torch.save({'state_dict': state, 'extra': payload}, tmp_path / 'payload.pth')
    loaded = read_checkpoint(tmp_path / 'payload.pth')
    assert not marker.exists()
    assert torch.equal(loaded['state_dict']['norm0.weight'], state['norm0.weight'])


def test_blocked_module_raises(tmp_path):
    state = clone_state(ConvNeXtV2(arch=SMALL_ARCH))
    torch.save({'state_dict': state, 'extra': _RunsShell()}, tmp_path / 'shell.pth')
    with pytest.raises(ValueError, match='cannot be loaded safely'):
        read_checkpoint(tmp_path / 'shell.pth')
