// Vision: filled in by its issue.
