// Optim: filled in by its issue.
