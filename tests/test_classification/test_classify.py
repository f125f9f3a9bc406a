"""tools/classify.py on real photos, damaged files and checkpoints of several layouts."""
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchvision.transforms.v2.functional import to_pil_image

from cnx2_backbone.classify import classify_images, load_classifier
from cnx2_backbone.datasets.unlabeled import decode_image
from cnx2_backbone.models import ConvNeXtV2

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'classify.py'
LINE = re.compile(r'^(?P<image>.+): (?P<name1>\w+) (?P<score1>[01]\.\d{3}), '
                  r'(?P<name2>\w+) (?P<score2>[01]\.\d{3})$')


@pytest.fixture(scope='module')
def classify_tool():
    spec = importlib.util.spec_from_file_location('classify_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def val_images(hymenoptera):
    ants = sorted((hymenoptera / 'val' / 'ants').glob('*.jpg'))
    bees = sorted((hymenoptera / 'val' / 'bees').glob('*.jpg'))
    return [ants[0], bees[0], ants[1]]


@pytest.fixture
def mixed_folder(tmp_path, val_images, truncated_jpeg):
    """Two real photos, a truncated JPEG and a text file named .jpg."""
    folder = tmp_path / 'mixed'
    folder.mkdir()
    shutil.copy(val_images[0], folder / 'a_ant.jpg')
    truncated_jpeg(val_images[1], folder / 'b_truncated.jpg')
    (folder / 'c_text.jpg').write_text('not an image')
    shutil.copy(val_images[1], folder / 'd_bee.jpg')
    return folder


def test_prints_two_classes_per_image(classify_tool, trained_checkpoint, val_images, capsys):
    status = classify_tool.main([str(trained_checkpoint)] + [str(p) for p in val_images])
    output = capsys.readouterr()
    assert status == 0
    lines = output.out.splitlines()
    assert len(lines) == 3
    for line, image in zip(lines, val_images):
        match = LINE.match(line)
        assert match, line
        assert match['image'] == str(image)
        assert {match['name1'], match['name2']} == {'ants', 'bees'}
        assert float(match['score1']) >= float(match['score2'])
        assert float(match['score1']) + float(match['score2']) == pytest.approx(1.0, abs=0.002)
    assert '3 images classified, 0 failed.' in output.err


def test_folder_is_searched_for_images(classify_tool, trained_checkpoint, hymenoptera, capsys):
    status = classify_tool.main([str(trained_checkpoint), str(hymenoptera / 'val')])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(lines) == 24
    assert all(LINE.match(line) for line in lines)


def test_unreadable_files_are_named_and_skipped(classify_tool, trained_checkpoint,
                                                mixed_folder, capsys):
    status = classify_tool.main([str(trained_checkpoint), str(mixed_folder), '--batch-size', '1'])
    output = capsys.readouterr()
    assert status == 1
    printed = [line.split(': ')[0] for line in output.out.splitlines()]
    assert printed == [str(mixed_folder / 'a_ant.jpg'), str(mixed_folder / 'd_bee.jpg')]
    assert f'{mixed_folder / "b_truncated.jpg"}: error: cannot decode image' in output.err
    assert f'{mixed_folder / "c_text.jpg"}: error: cannot decode image' in output.err
    assert '2 images classified, 2 failed.' in output.err


def test_missing_input_fails(classify_tool, trained_checkpoint, val_images, tmp_path, capsys):
    missing = tmp_path / 'absent.jpg'
    status = classify_tool.main([str(trained_checkpoint), str(val_images[0]), str(missing)])
    output = capsys.readouterr()
    assert status == 1
    assert f'{missing}: error: no such file or folder' in output.err
    assert len(output.out.splitlines()) == 1


def test_json_output_lists_results_and_errors(classify_tool, trained_checkpoint, mixed_folder,
                                              tmp_path, capsys):
    json_path = tmp_path / 'out' / 'results.json'
    status = classify_tool.main([str(trained_checkpoint), str(mixed_folder), '--topk', '1',
                                 '--json', str(json_path)])
    printed = capsys.readouterr().out.splitlines()
    assert status == 1
    report = json.loads(json_path.read_text())
    assert report['classes'] == ['ants', 'bees']
    assert report['class_source'] == 'checkpoint meta'
    assert report['arch'] == 'atto'
    images = [entry['image'] for entry in report['results']]
    assert images == [str(mixed_folder / name) for name in
                      ('a_ant.jpg', 'b_truncated.jpg', 'c_text.jpg', 'd_bee.jpg')]
    first = report['results'][0]['predictions']
    assert len(first) == 1
    expected_line = f'{mixed_folder / "a_ant.jpg"}: {first[0]["label"]} {first[0]["score"]:.3f}'
    assert printed[0] == expected_line
    assert 'error' in report['results'][1]
    assert 'predictions' not in report['results'][1]


def test_classes_file_overrides_names(classify_tool, trained_checkpoint, val_images, tmp_path,
                                      capsys):
    classes = tmp_path / 'classes.txt'
    classes.write_text('formicidae\n\nanthophila\n')
    status = classify_tool.main([str(trained_checkpoint), str(val_images[0]),
                                 '--classes', str(classes)])
    match = LINE.match(capsys.readouterr().out.strip())
    assert status == 0
    assert {match['name1'], match['name2']} == {'formicidae', 'anthophila'}


def test_classes_file_with_wrong_count_is_invalid(classify_tool, trained_checkpoint, val_images,
                                                  tmp_path, capsys):
    classes = tmp_path / 'classes.txt'
    classes.write_text('ants\nbees\nwasps\n')
    status = classify_tool.main([str(trained_checkpoint), str(val_images[0]),
                                 '--classes', str(classes)])
    assert status == 2
    assert '3 class names' in capsys.readouterr().err


def test_checkpoint_without_head_is_invalid(classify_tool, tmp_path, val_images, capsys):
    export = tmp_path / 'backbone.pth'
    torch.save(ConvNeXtV2(arch='atto').state_dict(), export)
    status = classify_tool.main([str(export), str(val_images[0])])
    assert status == 2
    assert 'no classification head' in capsys.readouterr().err


def test_batching_keeps_input_order(trained_checkpoint, mixed_folder, val_images):
    loaded = load_classifier(trained_checkpoint)
    paths = [str(mixed_folder / 'b_truncated.jpg')] + [str(p) for p in val_images]
    one_by_one = list(classify_images(loaded, paths, topk=2, batch_size=1))
    batched = list(classify_images(loaded, paths, topk=2, batch_size=2))
    assert [r.image for r in batched] == paths
    assert batched[0].error is not None
    for single, grouped in zip(one_by_one[1:], batched[1:]):
        assert [name for name, _, _ in single.predictions] == \
            [name for name, _, _ in grouped.predictions]
        assert single.predictions[0][2] == pytest.approx(grouped.predictions[0][2], abs=1e-5)


def test_runner_checkpoint_uses_its_val_transforms(trained_checkpoint):
    loaded = load_classifier(trained_checkpoint)
    image = to_pil_image(torch.zeros(3, 200, 300, dtype=torch.uint8))
    assert tuple(loaded.transforms(image).shape) == (3, 64, 64)


def test_timm_checkpoint_matches_timm(tmp_path, val_images):
    timm = pytest.importorskip('timm')
    reference = timm.create_model('convnextv2_atto', num_classes=3).eval()
    checkpoint = tmp_path / 'timm_atto.pth'
    torch.save(reference.state_dict(), checkpoint)
    classes = tmp_path / 'classes.txt'
    classes.write_text('a\nb\nc\n')

    loaded = load_classifier(checkpoint, classes_file=str(classes))
    results = list(classify_images(loaded, [str(p) for p in val_images], topk=3))

    images = torch.stack([loaded.transforms(decode_image(str(p))) for p in val_images]).float()
    with torch.no_grad():
        expected = reference((images - loaded.mean) / loaded.std).softmax(dim=1)
    assert loaded.arch == 'atto'
    for result, row in zip(results, expected):
        for name, index, score in result.predictions:
            assert name == 'abc'[index]
            assert score == pytest.approx(float(row[index]), abs=1e-5)


def test_hf_folder_takes_names_from_config(tmp_path, val_images):
    transformers = pytest.importorskip('transformers')
    config = transformers.ConvNextV2Config(depths=[2, 2, 6, 2], hidden_sizes=[40, 80, 160, 320],
                                           num_labels=2, id2label={0: 'ant', 1: 'bee'},
                                           label2id={'ant': 0, 'bee': 1})
    model = transformers.ConvNextV2ForImageClassification(config).eval()
    folder = tmp_path / 'hf_atto'
    model.save_pretrained(folder)

    loaded = load_classifier(folder)
    result = next(classify_images(loaded, [str(val_images[0])], topk=2))
    assert loaded.class_source == 'config.json id2label'
    assert {name for name, _, _ in result.predictions} == {'ant', 'bee'}


def test_command_line_exit_status(trained_checkpoint, mixed_folder):
    process = subprocess.run(
        [sys.executable, str(TOOL), str(trained_checkpoint), str(mixed_folder / 'a_ant.jpg'),
         str(mixed_folder / 'c_text.jpg')],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert process.returncode == 1
    assert LINE.match(process.stdout.strip())
    assert 'c_text.jpg: error: cannot decode image' in process.stderr
