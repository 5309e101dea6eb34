// One import for lessons and exercises: the engine, data and notebook runtime.
@_exported import Torch
@_exported import NN
@_exported import Optim
@_exported import Checkpoint
@_exported import Models
@_exported import Vision
@_exported import NotebookRuntime
@_exported import Recipes
