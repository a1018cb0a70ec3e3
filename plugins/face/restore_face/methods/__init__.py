"""The face plugin's methods: DifFace, DiffBFR and the bicubic baseline."""
