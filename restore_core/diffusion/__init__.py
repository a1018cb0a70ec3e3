"""Pure diffusion maths on tensors of any rank (2D images and 3D volumes alike).

Submodules: ``schedules``, ``forward``, ``parameterization``, ``samplers``,
``start``, ``guidance``, ``operators``, ``consistency``, ``colour``,
``wavelet``, ``spaces``, ``residual_shift``. No file I/O, no plugin
knowledge, no imports from other ``restore_core`` subpackages.
"""
