"""diffusion layer of the restore engine."""
