// Notebook: filled in by its issue.
