// NN: filled in by its issue.
import Torch
