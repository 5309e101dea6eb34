import Foundation
@testable import Checkpoint

/// Hand-assembled pickle streams for tests that need exact control over the opcodes.
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func global(_ module: String, _ name: String) { bytes.append(0x63); bytes += Array("\(module)\n\(name)\n".utf8) }
    mutating func stackGlobal(_ module: String, _ name: String) { string(module); string(name); bytes.append(0x93) }
    mutating func string(_ s: String) {
        let b = Array(s.utf8)
        bytes.append(0x58)
        bytes += withUnsafeBytes(of: UInt32(b.count).littleEndian) { Array($0) }
        bytes += b
    }
    mutating func int(_ v: Int) {
        bytes.append(0x4A)
        bytes += withUnsafeBytes(of: Int32(v).littleEndian) { Array($0) }
    }
    mutating func mark() { bytes.append(0x28) }
    mutating func tuple() { bytes.append(0x74) }
    mutating func emptyTuple() { bytes.append(0x29) }
    mutating func reduce() { bytes.append(0x52) }
    mutating func stop() { bytes.append(0x2E) }
    mutating func ints(_ values: [Int]) { mark(); values.forEach { int($0) }; tuple() }

    /// `('storage', torch.<storageType>, key, 'cpu', numel)` followed by BINPERSID.
    mutating func storage(_ storageType: String, key: String, numel: Int) {
        mark(); string("storage"); global("torch", storageType); string(key); string("cpu"); int(numel); tuple()
        bytes.append(0x51)
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
    mutating func tensor(_ storageType: String, key: String, numel: Int, offset: Int, size: [Int], stride: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        storage(storageType, key: key, numel: numel)
        int(offset); ints(size); ints(stride)
        bytes.append(0x89)
        global("collections", "OrderedDict"); emptyTuple(); reduce()
        tuple(); reduce()
    }

    /// Starts `OrderedDict()` and a MARK for SETITEMS.
    mutating func beginDict() { global("collections", "OrderedDict"); emptyTuple(); reduce(); mark() }
    mutating func endDict() { bytes.append(0x75) }
}

/// Writes a zip archive with the given (name, bytes) entries, in order, as the engine's writer does.
func writeZip(_ entries: [(String, [UInt8])], to url: URL) throws {
    try writeAtomically(to: url) { out in
        let zip = try ZipWriter(out)
        for (name, bytes) in entries { try zip.add(name, bytes: bytes) }
        try zip.finish()
    }
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
}
