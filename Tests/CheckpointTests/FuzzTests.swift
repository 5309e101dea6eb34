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

    private func fuzz(_ original: [UInt8], name: String, seed: UInt64, iterations: Int) {
        let dir = TemporaryDirectory()
        let url = dir.file(name)
        var rng = SeededRandom(state: seed)
        var errors = 0, loaded = 0
        for i in 0..<iterations {
            write(Self.mutate(original, &rng), to: url)
            do {
                let dict = try Checkpoint.load(url)
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
                do { _ = try Checkpoint.loadPyTorchObject(url) } catch is CheckpointError {} catch {
                    XCTFail("iteration \(i): unexpected error type \(error)")
                }
            }
        }
        XCTAssertGreaterThan(errors, iterations / 4, "the mutations really damage the file")
        XCTAssertEqual(errors + loaded, iterations)
    }

    func testMutatedSafetensors() throws {
        let original = [UInt8](try Data(contentsOf: fixture("all_dtypes.safetensors")))
        fuzz(original, name: "fuzz.safetensors", seed: 1, iterations: 300)
    }

    func testMutatedTorchSavedPth() throws {
        let original = [UInt8](try Data(contentsOf: fixture("plain.pth")))
        fuzz(original, name: "fuzz.pth", seed: 2, iterations: 300)
    }

    func testMutatedEngineWrittenPth() throws {
        let dir = TemporaryDirectory()
        try PyTorchCheckpoint.write(sampleStateDict(), to: dir.file("m.pth"))
        let original = [UInt8](try Data(contentsOf: dir.file("m.pth")))
        fuzz(original, name: "fuzz.pth", seed: 3, iterations: 300)
    }

    /// Pickle-level mutations reach the unpickler (zip CRCs would otherwise catch most damage).
    func testMutatedPickleStreams() throws {
        let data = try Data(contentsOf: fixture("nested.pth"))
        let zip = try ZipReader(data: data, url: fixture("nested.pth"))
        var entries: [(String, [UInt8])] = []
        for entry in zip.entries { entries.append((entry.name, [UInt8](try zip.contents(of: entry)))) }
        let pickleIndex = entries.firstIndex { $0.0.hasSuffix("data.pkl") }!
        let dir = TemporaryDirectory()
        let url = dir.file("pickle.pth")
        var rng = SeededRandom(state: 4)
        var errors = 0
        for i in 0..<300 {
            var mutated = entries
            mutated[pickleIndex].1 = Self.mutate(entries[pickleIndex].1, &rng)
            try writeZip(mutated, to: url)
            do {
                _ = try Checkpoint.loadPyTorchObject(url)
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
