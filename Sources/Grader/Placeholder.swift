// Grader: filled in by its issue.
