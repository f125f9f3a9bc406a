import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO_ROOT / 'demo' / 'data'

# Two cores here; more threads than cores slows the small test models down.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope='session')
def demo_data() -> Path:
    """Root of the bundled real data subsets."""
    return DEMO_DATA


@pytest.fixture(autouse=True)
def fixed_seed():
    torch.manual_seed(0)
    yield
