import Digest
import Foundation

/// Lower-case hex SHA-256 of `data`: the checksum recorded in a source model's manifest.
public func sha256Hex(_ data: Data) -> String { SHA256.hex(data) }
