// NotebookRuntime: filled in by its issue.
