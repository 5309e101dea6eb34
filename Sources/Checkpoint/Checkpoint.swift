import Foundation
import Torch

/// Loading and saving state dicts, in safetensors or PyTorch `.pth` files.
///
///     let weights = try Checkpoint.load(URL(fileURLWithPath: "resnet18.pth"))
///     try Checkpoint.save(model.stateDict(), to: URL(fileURLWithPath: "finetuned.safetensors"))
public enum Checkpoint {
    public enum Format: String, Sendable, CaseIterable {
        /// Hugging Face safetensors: a JSON header and raw little-endian tensors.
        case safetensors
        /// PyTorch `torch.save` zip archive (`.pth`, `.pt`, `.bin`).
        case pytorch

        /// The format a file name's extension implies, if any.
        public init?(pathExtension: String) {
            switch pathExtension.lowercased() {
            case "safetensors": self = .safetensors
            case "pth", "pt", "bin", "ckpt", "tar": self = .pytorch
            default: return nil
            }
        }
    }

    /// The format of a file, judged by its content (not its name).
    public static func format(of url: URL) throws -> Format {
        try format(of: try readFileBytes(url), url)
    }

    static func format(of data: Data, _ url: URL) throws -> Format {
        if PyTorchCheckpoint.isZip(data) { return .pytorch }
        if PyTorchCheckpoint.isLegacy(data) { try PyTorchCheckpoint.checkIsZip(data, url) }
        // safetensors: an 8-byte length followed by a JSON object.
        if data.count >= 9, data[data.startIndex + 8] == UInt8(ascii: "{") {
            let length = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            if length <= UInt64(SafeTensors.maximumHeaderSize) { return .safetensors }
        }
        throw CheckpointError(.unrecognizedFormat, url, "not a recognised checkpoint: expected safetensors (8-byte header length, then JSON) or a PyTorch zip archive (starting with 'PK'), found \(data.count) bytes starting with \(hexPrefix(data))")
    }

    /// The tensors of a safetensors or PyTorch checkpoint, whichever the content is.
    public static func load(_ url: URL) throws -> StateDict {
        try decode(try readFileBytes(url), url)
    }

    /// `load` for the file at `url` whose bytes `data` already holds.
    static func decode(_ data: Data, _ url: URL) throws -> StateDict {
        switch try format(of: data, url) {
        case .safetensors: return try SafeTensors.decode(data, url).stateDict
        case .pytorch: return try PyTorchCheckpoint.stateDict(from: PyTorchCheckpoint.decodeObject(data, url), url)
        }
    }

    /// Everything in a PyTorch checkpoint (epoch, optimizer state, ...), decoded safely.
    public static func loadPyTorchObject(_ url: URL) throws -> PickleValue {
        try PyTorchCheckpoint.readObject(url)
    }

    /// Saves `dict` atomically. The format defaults to the one the extension names
    /// (`.safetensors`, or `.pth`/`.pt`/`.bin` for PyTorch). `metadata` is kept only by safetensors.
    public static func save(_ dict: StateDict, to url: URL, format: Format? = nil,
                            metadata: [String: String] = [:]) throws {
        guard let format = format ?? Format(pathExtension: url.pathExtension) else {
            throw CheckpointError(.invalidArgument, url, "cannot tell the format from the extension '.\(url.pathExtension)'; use .safetensors or .pth, or pass format:")
        }
        switch format {
        case .safetensors:
            try SafeTensors.write(dict, to: url, metadata: metadata)
        case .pytorch:
            guard metadata.isEmpty else {
                throw CheckpointError(.invalidArgument, url, "PyTorch .pth files have no place for metadata; save as safetensors to keep it")
            }
            try PyTorchCheckpoint.write(dict, to: url)
        }
    }

    private static func hexPrefix(_ data: Data) -> String {
        data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
    }
}

// Paths as strings, as `torch.save(model.state_dict(), "model.pth")` and `torch.load("model.pth")`
// take them; relative paths are resolved against the current folder.
extension Checkpoint {
    /// `Checkpoint.load("model.pth")`: `load(_:)` with a path (PyTorch's `torch.load(path)`).
    public static func load(_ path: String) throws -> StateDict {
        try load(URL(fileURLWithPath: path))
    }

    /// `Checkpoint.save(model.stateDict(), to: "model.pth")`: `save(_:to:)` with a path
    /// (PyTorch's `torch.save(model.state_dict(), path)`).
    public static func save(_ dict: StateDict, to path: String, format: Format? = nil,
                            metadata: [String: String] = [:]) throws {
        try save(dict, to: URL(fileURLWithPath: path), format: format, metadata: metadata)
    }

    /// The format of the file at `path`, judged by its content.
    public static func format(of path: String) throws -> Format {
        try format(of: URL(fileURLWithPath: path))
    }

    /// Everything in the PyTorch checkpoint at `path`, decoded safely.
    public static func loadPyTorchObject(_ path: String) throws -> PickleValue {
        try loadPyTorchObject(URL(fileURLWithPath: path))
    }
}
