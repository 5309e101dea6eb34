// Checkpoint: filled in by its issue.
