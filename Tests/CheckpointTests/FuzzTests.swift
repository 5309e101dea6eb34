import Foundation
import XCTest
import Torch
@testable import Checkpoint

/// Damaged and hostile files must give a CheckpointError or a valid result, never a crash.
final class FuzzTests: XCTestCase {
    /// SplitMix64: small, seedable, identical on every platform.
    struct SeededRandom {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    /// One random corruption: bit flips, a boundary value written over 4 or 8 bytes, truncation,
    /// inserted or deleted bytes.
    static func mutate(_ original: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = original
        switch rng.below(6) {
        case 0:
            for _ in 0...rng.below(8) where !bytes.isEmpty { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
        case 1:
            let boundary: [UInt64] = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x8000_0000_0000_0000, UInt64.max]
            let value = boundary[rng.below(boundary.count)]
            let width = rng.below(2) == 0 ? 4 : 8
            let at = rng.below(max(bytes.count - width, 1))
            for i in 0..<width where at + i < bytes.count { bytes[at + i] = UInt8((value >> (8 * UInt64(i))) & 0xFF) }
        case 2:
            bytes = Array(bytes.prefix(rng.below(bytes.count)))
        case 3:
            let at = rng.below(bytes.count)
            bytes.insert(contentsOf: (0...rng.below(16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 4:
            let at = rng.below(bytes.count)
            bytes.removeSubrange(at ..< min(bytes.count, at + 1 + rng.below(16)))
        default:
            if !bytes.isEmpty { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
        }
        return bytes
    }

    /// 300 by default; set CHECKPOINT_FUZZ_ITERATIONS for a longer run by hand.
    static let iterations = ProcessInfo.processInfo.environment["CHECKPOINT_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 300

    /// Mutates `original` `iterations` times and decodes each result in memory (every 10th goes
    /// through a real file and the public API, mapping included).
    private func fuzz(_ original: [UInt8], name: String, seed: UInt64, iterations: Int) {
        let dir = TemporaryDirectory()
        let url = dir.file(name)
        var rng = SeededRandom(state: seed)
        var errors = 0, loaded = 0
        for i in 0..<iterations {
            let mutated = Self.mutate(original, &rng)
            write(mutated, to: url)  // .pth archives are read from their file (see Zip.swift)
            let throughFile = i % 10 == 0
            do {
                let dict = throughFile ? try Checkpoint.load(url) : try Checkpoint.decode(Data(mutated), url)
                for (key, tensor) in dict {
                    let n = tensor.dtype == .int64 ? tensor.int64Scalars.count : tensor.scalars.count
                    XCTAssertEqual(n, tensor.shape.reduce(1, *), "iteration \(i): tensor \(key) has a consistent size")
                }
                loaded += 1
            } catch let error as CheckpointError {
                XCTAssertTrue(error.description.hasPrefix(name + ": "), "iteration \(i): \(error)")
                errors += 1
            } catch {
                XCTFail("iteration \(i): unexpected error type \(error)")
            }
            if name.hasSuffix(".pth") {
                do { _ = try PyTorchCheckpoint.decodeObject(Data(mutated), url) } catch is CheckpointError {} catch {
                    XCTFail("iteration \(i): unexpected error type \(error)")
                }
            }
        }
        XCTAssertGreaterThan(errors, iterations / 4, "the mutations really damage the file")
        XCTAssertEqual(errors + loaded, iterations)
    }

    func testMutatedSafetensors() throws {
        let original = [UInt8](try Data(contentsOf: fixture("all_dtypes.safetensors")))
        fuzz(original, name: "fuzz.safetensors", seed: 1, iterations: Self.iterations)
    }

    func testMutatedTorchSavedPth() throws {
        let original = [UInt8](try Data(contentsOf: fixture("plain.pth")))
        fuzz(original, name: "fuzz.pth", seed: 2, iterations: Self.iterations)
    }

    func testMutatedDeflatedPth() throws {
        let original = [UInt8](try Data(contentsOf: fixture("deflated.pth")))
        fuzz(original, name: "fuzz.pth", seed: 5, iterations: Self.iterations)
    }

    func testMutatedEngineWrittenPth() throws {
        let dir = TemporaryDirectory()
        try PyTorchCheckpoint.write(sampleStateDict(), to: dir.file("m.pth"))
        let original = [UInt8](try Data(contentsOf: dir.file("m.pth")))
        fuzz(original, name: "fuzz.pth", seed: 3, iterations: Self.iterations)
    }

    /// Pickle-level mutations reach the unpickler (zip CRCs would otherwise catch most damage).
    func testMutatedPickleStreams() throws {
        let url = fixture("nested.pth")
        let zip = try ZipReader(url: url, size: try Data(contentsOf: url).count)
        let pickleEntry = zip.entries.first { $0.name.hasSuffix("data.pkl") }!
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        let original = [UInt8](try zip.contents(of: pickleEntry))
        let loader: Unpickler.StorageLoader = { type, key, numel in
            guard let entry = zip.entry(named: prefix + "data/" + key) else {
                throw CheckpointError(.malformed, url, "missing storage \(key)")
            }
            let bytes = try zip.contents(of: entry)
            guard numel >= 0, numel <= bytes.count / type.itemSize else { throw CheckpointError(.truncated, url, "short storage \(key)") }
            return TorchStorage(key: key, type: type, bytes: bytes.prefix(numel * type.itemSize))
        }
        var rng = SeededRandom(state: 4)
        var errors = 0
        for i in 0..<Self.iterations {
            let mutated = Self.mutate(original, &rng)
            do {
                let object = try PyTorchCheckpoint.unpickle(Data(mutated), url: url, entryName: pickleEntry.name,
                                                            maximumTensorBytes: 1 << 24, bigEndian: false, loader: loader)
                _ = object.description
            } catch is CheckpointError {
                errors += 1
            } catch {
                XCTFail("iteration \(i): unexpected error type \(error)")
            }
        }
        XCTAssertGreaterThan(errors, 100)
    }

    // MARK: Hostile structure

    private func pickleArchive(_ pickle: [UInt8]) throws -> (TemporaryDirectory, URL) {
        let dir = TemporaryDirectory()
        let url = dir.file("deep.pth")
        try writeZip([("archive/data.pkl", pickle)], to: url)
        return (dir, url)
    }

    func testDeeplyNestedTuplesDoNotOverflowTheStack() throws {
        let (dir, url) = try pickleArchive([0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: 100_000) + [0x2E])
        assertCheckpointError(.unsupported, mentions: ["deep.pth", "nested more than"]) { _ = try Checkpoint.loadPyTorchObject(url) }
        _ = dir
    }

    func testDeeplyNestedListsThroughTheMemoDoNotOverflowTheStack() throws {
        // root = [] (memo 1, and memo 0 = the innermost list so far); then 100k times: push the
        // innermost list, push a new list, make it the innermost, APPEND it, POP. Finally return root.
        var p: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x01, 0x71, 0x00]
        for _ in 0..<100_000 {
            p += [0x6A, 0, 0, 0, 0, 0x5D, 0x72, 0, 0, 0, 0, 0x61, 0x30]  // LONG_BINGET 0, [], LONG_BINPUT 0, APPEND, POP
        }
        p += [0x68, 0x01, 0x2E]  // BINGET 1, STOP
        let (dir, url) = try pickleArchive(p)
        assertCheckpointError(.unsupported, mentions: ["nested more than"]) { _ = try Checkpoint.loadPyTorchObject(url) }
        _ = dir
    }

    func testHugeViewOfATinyStorageIsRefused() throws {
        var p = PickleBuilder()
        p.beginDict(); p.string("w")
        p.tensor("FloatStorage", key: "0", numel: 1, offset: 0, size: [1 << 20, 1 << 20], stride: [0, 0])
        p.endDict(); p.stop()
        let dir = TemporaryDirectory()
        let url = dir.file("expand.pth")
        try writeZip([("archive/data.pkl", p.bytes), ("archive/data/0", floatBytes([1]))], to: url)
        assertCheckpointError(.malformed, mentions: ["expand.pth", "implausibly large"]) { _ = try Checkpoint.load(url) }
    }
}
