import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test sees the same global RNG stream: statistical tests never flake."""
    torch.manual_seed(0)
