"""tools/benchmark_fcmae.py: timing runs and the Markdown section it maintains."""
import importlib.util
from pathlib import Path

from cnx2_backbone.models.fcmae_benchmark import (SECTION_END, SECTION_START, STEP_COST_END,
                                                  STEP_COST_START, write_section)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'benchmark_fcmae.py'


def test_tool_writes_table_into_new_file(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('benchmark_fcmae_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'BENCHMARKS.md'
    tool.main(['--archs', 'atto', '--batch-size', '1', '--size', '64', '--steps', '1',
               '--warmup', '0', '--threads', '1', '--write', str(out)])
    assert 'atto, 1 threads: masked/unmasked step time' in capsys.readouterr().out
    text = out.read_text()
    assert text.index(SECTION_START) < text.index(STEP_COST_START) < text.index(STEP_COST_END) \
        < text.index(SECTION_END)
    assert '| atto | 1 | 1 |' in text
    assert 'python tools/benchmark_fcmae.py --archs atto' in text


def test_write_keeps_other_sections_and_notes(tmp_path):
    path = tmp_path / 'BENCHMARKS.md'
    path.write_text(f'# Benchmarks\n\n<!-- backbone:start -->\nbackbone table\n'
                    f'<!-- backbone:end -->\n\n{SECTION_START}\n{STEP_COST_START}\nold\n'
                    f'{STEP_COST_END}\n\nreal run notes\n{SECTION_END}\n')
    write_section(path, f'{STEP_COST_START}\nnew\n{STEP_COST_END}')
    text = path.read_text()
    assert 'backbone table' in text
    assert 'real run notes' in text
    assert 'new' in text
    assert 'old' not in text


def test_write_inserts_into_section_without_table(tmp_path):
    path = tmp_path / 'BENCHMARKS.md'
    path.write_text(f'{SECTION_START}\nreal run notes\n{SECTION_END}\n')
    write_section(path, f'{STEP_COST_START}\nnew\n{STEP_COST_END}')
    text = path.read_text()
    assert text.index('new') < text.index('real run notes') < text.index(SECTION_END)
