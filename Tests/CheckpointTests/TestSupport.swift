import Foundation
import XCTest
import Torch
@testable import Checkpoint

/// A fresh temporary directory per test, removed afterwards.
final class TemporaryDirectory {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    /// Names of files in the directory (to check no temporary files were left behind).
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path).sorted()) ?? [] }
}

func fixture(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!
}

/// Runs `body`, asserting it throws a CheckpointError of `kind` whose description names the file
/// and contains every string in `mentions`.
func assertCheckpointError(_ kind: CheckpointError.Kind, mentions: [String] = [], file: StaticString = #filePath,
                           line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a \(kind) error, but nothing was thrown", file: file, line: line)
    } catch let error as CheckpointError {
        XCTAssertEqual(error.kind, kind, "wrong kind for: \(error)", file: file, line: line)
        XCTAssertTrue(error.description.hasPrefix(error.fileName + ": "), "\(error)", file: file, line: line)
        XCTAssertEqual(error.errorDescription, error.description, file: file, line: line)
        for text in mentions {
            XCTAssertTrue(error.description.contains(text), "'\(error)' does not mention '\(text)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected CheckpointError, got \(error)", file: file, line: line)
    }
}

/// Builds a safetensors file byte by byte, so tests can break any part of it.
func safetensorsBytes(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { Array($0) }
    out += h
    out += data
    return out
}

func write(_ bytes: [UInt8], to url: URL) {
    try! Data(bytes).write(to: url)
}

/// Asserts two state dicts hold the same names in the same order with equal shapes, dtypes and values.
func assertSameStateDict(_ a: StateDict, _ b: StateDict, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.keys, b.keys, file: file, line: line)
    for (name, x) in a {
        guard let y = b[name] else { continue }
        XCTAssertEqual(x.shape, y.shape, name, file: file, line: line)
        XCTAssertEqual(x.dtype, y.dtype, name, file: file, line: line)
        if x.dtype == .int64 {
            XCTAssertEqual(x.int64Scalars, y.int64Scalars, name, file: file, line: line)
        } else {
            XCTAssertEqual(x.scalars.map(\.bitPattern), y.scalars.map(\.bitPattern), name, file: file, line: line)
        }
    }
}

/// A state dict with every engine dtype, a scalar, an empty tensor and awkward names.
func sampleStateDict() -> StateDict {
    var dict = StateDict()
    dict["conv.weight"] = Tensor(shape: [2, 1, 2, 2], scalars: [1, -2, 3.5, 0, -0.0, .infinity, 1e-38, 65504])
    dict["conv.bias"] = Tensor(shape: [2], scalars: [0.25, -7])
    dict["bn.num_batches_tracked"] = Tensor(shape: [], int64Scalars: [42])
    dict["big.ints"] = Tensor(shape: [3], int64Scalars: [Int64.min, -1, Int64.max])
    dict["mask"] = Tensor([1, 0, 1, 1], dtype: .bool)
    dict["scalar"] = Tensor(3.25)
    dict["empty"] = Tensor(shape: [0, 4], scalars: [])
    dict["we\"ird\\name\n\u{1}é"] = Tensor(shape: [1], scalars: [.nan])
    return dict
}

/// Fixture expectations written by make_fixtures.py.
struct ExpectedTensor: Decodable {
    let shape: [Int]
    let dtype: String
    let values: [Double]
}

func expectedFixtures() throws -> [String: [String: ExpectedTensor]] {
    try JSONDecoder().decode([String: [String: ExpectedTensor]].self, from: Data(contentsOf: fixture("expected.json")))
}

func assertMatches(_ tensor: Tensor?, _ expected: ExpectedTensor, _ name: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    guard let tensor else { return XCTFail("missing tensor \(name)", file: file, line: line) }
    XCTAssertEqual(tensor.shape, expected.shape, name, file: file, line: line)
    switch expected.dtype {
    case "int64":
        XCTAssertEqual(tensor.dtype, .int64, name, file: file, line: line)
        XCTAssertEqual(tensor.int64Scalars, expected.values.map { Int64($0) }, name, file: file, line: line)
    case "bool":
        XCTAssertEqual(tensor.dtype, .bool, name, file: file, line: line)
        XCTAssertEqual(tensor.scalars, expected.values.map { Float($0) }, name, file: file, line: line)
    default:
        XCTAssertEqual(tensor.dtype, .float32, name, file: file, line: line)
        XCTAssertEqual(tensor.scalars, expected.values.map { Float($0) }, name, file: file, line: line)
    }
}
