"""A toy "published architecture" for registry and loading tests (built like the real ones: from keyword arguments)."""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn


class ToyNet(nn.Module):
    def __init__(self, width: int = 4, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1)
        self.out = nn.Conv2d(width, in_channels, 1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.conv(x)))


def build(config: Mapping[str, Any]) -> ToyNet:
    return ToyNet(**dict(config))
