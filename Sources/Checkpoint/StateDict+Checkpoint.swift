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
