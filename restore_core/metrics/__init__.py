"""metrics layer of the restore engine."""
