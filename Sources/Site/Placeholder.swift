// Site: filled in by its issue.
