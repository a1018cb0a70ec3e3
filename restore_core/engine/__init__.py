"""engine layer of the restore engine."""
