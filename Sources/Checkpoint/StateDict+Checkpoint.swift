import Foundation
import Torch

extension StateDict {
    /// Reads a safetensors or PyTorch checkpoint (format judged by content): `Checkpoint.load`.
    public init(contentsOf url: URL) throws {
        self = try Checkpoint.load(url)
    }

    /// Writes this state dict atomically, in the format the extension names (`.safetensors`,
    /// `.pth`) unless `format` is given: `Checkpoint.save`.
    public func save(to url: URL, format: Checkpoint.Format? = nil, metadata: [String: String] = [:]) throws {
        try Checkpoint.save(self, to: url, format: format, metadata: metadata)
    }
}

extension StateDict {
    /// Reads the checkpoint at `path` (safetensors or PyTorch, judged by content).
    public init(contentsOf path: String) throws {
        self = try Checkpoint.load(path)
    }

    /// Writes this state dict atomically to `path`, in the format its extension names.
    public func save(to path: String, format: Checkpoint.Format? = nil, metadata: [String: String] = [:]) throws {
        try Checkpoint.save(self, to: path, format: format, metadata: metadata)
    }
}
