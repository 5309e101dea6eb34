import Foundation

/// Why a checkpoint could not be read or written. The description always starts with the file
/// name, then says what and where: `weights.safetensors: tensor 'fc.weight' data_offsets [0, 100]
/// do not match shape [10, 512] x F32 = 20480 bytes`.
public struct CheckpointError: Error, LocalizedError, CustomStringConvertible, Equatable {
    /// Broad class of the problem, for code that wants to react to it (tests, the CLI).
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be opened, read, created or renamed.
        case io
        /// The content is neither safetensors nor a PyTorch zip checkpoint.
        case unrecognizedFormat
        /// A PyTorch file in the pre-1.6 (non-zip) serialization.
        case legacyFormat
        /// The file ends before the data it announces.
        case truncated
        /// Structural damage: bad header, offsets, zip records, pickle stream.
        case malformed
        /// Valid in principle but not supported here (dtype, pickle opcode, big file).
        case unsupported
        /// The pickle names a global outside the allow-list; nothing was executed.
        case forbiddenGlobal
        /// The decoded object holds no tensors to use as a state dict.
        case noStateDict
        /// The caller asked for something that cannot be written (bad name, metadata in .pth).
        case invalidArgument
    }

    public let kind: Kind
    /// Path of the file concerned.
    public let path: String
    /// What is wrong and where, without the file name.
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    init(_ kind: Kind, _ url: URL, _ message: String) {
        self.init(kind, path: url.path, message)
    }

    /// File name (last path component) used in messages, so they stay short and readable.
    public var fileName: String {
        let name = (path as NSString).lastPathComponent
        return name.isEmpty ? path : name
    }

    public var description: String { "\(fileName): \(message)" }
    public var errorDescription: String? { description }
}
