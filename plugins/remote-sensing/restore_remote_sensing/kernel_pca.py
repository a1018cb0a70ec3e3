"""Blur kernels as short codes: PCA of random anisotropic Gaussian kernels (IKC, Gu et al. 2019; DAN, Luo et al. 2020).

The basis is fitted once, from ``samples`` kernels drawn with a fixed seed
from the training degradation's own distribution
(:class:`~restore_remote_sensing.degradations.AnisotropicGaussian`), and kept
as buffers, so a checkpoint carries the exact basis its model was trained
with.  Codes are whitened (divided by each component's standard deviation) so
that every component has unit variance: a plain MSE on codes then weighs all
components alike, and code maps fed to a network are of unit scale.
"""
from __future__ import annotations

import torch
from torch import nn

from restore_remote_sensing.degradations import AnisotropicGaussian, anisotropic_gaussian_kernel


class KernelPCA(nn.Module):
    """``encode``: ``(B, k, k)`` kernels -> ``(B, code_dim)``; ``decode``: the inverse up to the discarded components."""

    def __init__(
        self, kernel_size: int = 21, code_dim: int = 10, scale: int = 4, sigma_min: float = 0.2,
        sigma_max: float | None = None, samples: int = 2000, seed: int = 0, sigma_sampling: str = "uniform",
    ) -> None:
        super().__init__()
        self.kernel_size, self.code_dim = int(kernel_size), int(code_dim)
        family = AnisotropicGaussian(
            scale, kernel_size=kernel_size, sigma_min=sigma_min, sigma_max=sigma_max, sigma_sampling=sigma_sampling
        )
        params = family.random_params(int(samples), torch.Generator().manual_seed(int(seed)))
        kernels = torch.stack([anisotropic_gaussian_kernel(*map(float, p), size=self.kernel_size) for p in params])
        flat = kernels.flatten(1).double()
        mean = flat.mean(0)
        _, singular, basis = torch.linalg.svd(flat - mean, full_matrices=False)
        std = singular[: self.code_dim] / (flat.shape[0] - 1) ** 0.5
        self.register_buffer("mean", mean.float())
        self.register_buffer("basis", basis[: self.code_dim].float())  # (code_dim, k*k), orthonormal rows
        self.register_buffer("std", std.float())

    def encode(self, kernels: torch.Tensor) -> torch.Tensor:
        flat = kernels.reshape(kernels.shape[0], -1).to(self.mean.dtype)
        return (flat - self.mean) @ self.basis.T / self.std

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        flat = (codes * self.std) @ self.basis + self.mean
        return flat.reshape(codes.shape[0], self.kernel_size, self.kernel_size)
