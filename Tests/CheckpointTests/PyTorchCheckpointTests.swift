import Foundation
import XCTest
import Torch
@testable import Checkpoint

final class PyTorchCheckpointTests: XCTestCase {
    // MARK: Files written by PyTorch

    func testReadsPlainTorchSaveFixture() throws {
        let expected = try expectedFixtures()["plain.pth"]!
        let dict = try PyTorchCheckpoint.read(fixture("plain.pth"))
        XCTAssertEqual(dict.keys, ["fc.weight", "fc.bias", "shared.full", "shared.row", "shared.strided", "transposed",
                                   "bn.num_batches_tracked", "half", "bf16", "double", "int32", "uint8", "mask", "empty", "param"])
        for (name, e) in expected { assertMatches(dict[name], e, name) }
        // The views are materialised from one shared storage.
        XCTAssertEqual(dict["shared.row"]!.scalars, [4, 5, 6, 7])
        XCTAssertEqual(dict["shared.strided"]!.scalars, [1, 3, 5, 7, 9, 11])
        XCTAssertEqual(dict["shared.strided"]!.shape, [3, 2])
        XCTAssertEqual(dict["bn.num_batches_tracked"]!.shape, [])
        XCTAssertEqual(dict["bn.num_batches_tracked"]!.int64Scalars, [7])
        XCTAssertEqual(dict["half"]!.scalars[0...2], [1.5, -2.25, 65504])
    }

    func testReadsNestedTrainingCheckpointAndStripsModulePrefix() throws {
        let expected = try expectedFixtures()["nested.pth"]!
        let url = fixture("nested.pth")
        let dict = try Checkpoint.load(url)
        XCTAssertEqual(dict.keys, ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                   "1.num_batches_tracked"])
        for (name, e) in expected { assertMatches(dict[name], e, name) }

        let object = try Checkpoint.loadPyTorchObject(url)
        XCTAssertEqual(object["epoch"]?.intValue, 3)
        XCTAssertEqual(object["best_acc"]?.doubleValue, 0.75)
        XCTAssertEqual(object["arch"]?.stringValue, "tiny")
        let groups = try XCTUnwrap(object["optimizer"]?["param_groups"]?.arrayValue)
        XCTAssertEqual(groups.count, 1)
        XCTAssertEqual(groups[0]["lr"]?.doubleValue, 0.1)
        XCTAssertEqual(groups[0]["momentum"]?.doubleValue, 0.9)
        XCTAssertEqual(groups[0]["params"]?.arrayValue?.compactMap(\.intValue), [0, 1, 2, 3])
        let state = try XCTUnwrap(object["optimizer"]?["state"]?.dictValue)
        XCTAssertEqual(state.count, 4)
        let buffer = try XCTUnwrap(state.first { $0.key.intValue == 0 }?.value["momentum_buffer"]?.tensorValue)
        XCTAssertEqual(buffer.shape, [3, 4])
        XCTAssertTrue(object.description.contains("'epoch': 3"))
    }

    func testDeflateCompressedArchiveReadsTheSame() throws {
        assertSameStateDict(try PyTorchCheckpoint.read(fixture("plain.pth")), try PyTorchCheckpoint.read(fixture("deflated.pth")))
    }

    func testBigEndianStoragesAreSwapped() throws {
        var p = PickleBuilder()
        p.beginDict()
        p.string("f"); p.tensor("FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1])
        p.string("h"); p.tensor("HalfStorage", key: "1", numel: 1, offset: 0, size: [], stride: [])
        p.string("i"); p.tensor("LongStorage", key: "2", numel: 1, offset: 0, size: [1], stride: [1])
        p.endDict(); p.stop()
        let floats: [UInt8] = [0x3F, 0x80, 0, 0, 0xC0, 0x20, 0, 0]  // 1.0, -2.5 big-endian
        let half: [UInt8] = [0x3C, 0x00]  // 1.0
        let long: [UInt8] = [0, 0, 0, 0, 0, 0, 0x01, 0x02]  // 258
        let dir = TemporaryDirectory()
        let url = dir.file("big.pth")
        try writeZip([("a/data.pkl", p.bytes), ("a/byteorder", Array("big".utf8)),
                      ("a/data/0", floats), ("a/data/1", half), ("a/data/2", long)], to: url)
        let dict = try PyTorchCheckpoint.read(url)
        XCTAssertEqual(dict["f"]!.scalars, [1, -2.5])
        XCTAssertEqual(dict["h"]!.scalars, [1])
        XCTAssertEqual(dict["i"]!.int64Scalars, [258])
    }

    func testPickledCodeIsRefusedNotRun() {
        assertCheckpointError(.forbiddenGlobal, mentions: ["evil.pth", "posix.system", "nothing was executed"]) {
            _ = try PyTorchCheckpoint.read(fixture("evil.pth"))
        }
    }

    func testLegacyFormatIsRefusedWithAdvice() {
        assertCheckpointError(.legacyFormat, mentions: ["legacy.pth", "legacy PyTorch format", "_use_new_zipfile_serialization=True"]) {
            _ = try Checkpoint.load(fixture("legacy.pth"))
        }
    }

    // MARK: Written by the engine

    func testRoundTripThroughPth() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("model.pth")
        let dict = sampleStateDict()
        try Checkpoint.save(dict, to: url)
        XCTAssertEqual(try Checkpoint.format(of: url), .pytorch)
        assertSameStateDict(dict, try Checkpoint.load(url))
        XCTAssertEqual(dir.contents, ["model.pth"])
    }

    func testWrittenArchiveLayoutMatchesTorchSave() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("m.pth")
        var dict = StateDict()
        dict["w"] = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        dict["n"] = Tensor(shape: [], int64Scalars: [9])
        try PyTorchCheckpoint.write(dict, to: url)
        let data = try Data(contentsOf: url)
        let zip = try ZipReader(url: url, size: data.count)
        XCTAssertEqual(zip.entries.map(\.name), ["archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/data/1", "archive/version"])
        XCTAssertTrue(zip.entries.allSatisfy { !$0.entry.isCompressed }, "stored entries")
        XCTAssertEqual(String(decoding: try zip.contents(of: zip.entry(named: "archive/byteorder")!), as: UTF8.self), "little")
        XCTAssertEqual(String(decoding: try zip.contents(of: zip.entry(named: "archive/version")!), as: UTF8.self), "3\n")
        XCTAssertEqual([UInt8](try zip.contents(of: zip.entry(named: "archive/data/0")!)), floatBytes([1, 2, 3, 4, 5, 6]))
        let pickle = [UInt8](try zip.contents(of: zip.entry(named: "archive/data.pkl")!))
        XCTAssertEqual(Array(pickle.prefix(2)), [0x80, 0x02], "protocol 2")
        let text = String(decoding: pickle, as: UTF8.self)
        XCTAssertTrue(text.contains("collections\nOrderedDict\n"))
        XCTAssertTrue(text.contains("torch._utils\n_rebuild_tensor_v2\n"))
        XCTAssertTrue(text.contains("torch\nFloatStorage\n"))
        XCTAssertTrue(text.contains("torch\nLongStorage\n"))
    }

    /// Writes the files check_engine_written.py loads in PyTorch and checks them here; with
    /// CHECKPOINT_EXPORT_DIR set they are written there for the Python check.
    func testFilesForThePyTorchCheck() throws {
        let temporary = TemporaryDirectory()
        let dir = ProcessInfo.processInfo.environment["CHECKPOINT_EXPORT_DIR"].map { URL(fileURLWithPath: $0) } ?? temporary.url
        var dict = StateDict()
        dict["0.weight"] = Tensor(shape: [3, 4], scalars: (0..<12).map { Float($0) * 0.5 - 2 })
        dict["0.bias"] = Tensor(shape: [3], scalars: [0.1, -0.2, 0.3])
        dict["1.weight"] = Tensor(shape: [3], scalars: [1, 1, 1])
        dict["1.bias"] = Tensor(shape: [3], scalars: [0, 0, 0])
        dict["1.running_mean"] = Tensor(shape: [3], scalars: [0.5, -0.5, 2])
        dict["1.running_var"] = Tensor(shape: [3], scalars: [1, 2, 3])
        dict["1.num_batches_tracked"] = Tensor(shape: [], int64Scalars: [1 << 40])
        try PyTorchCheckpoint.write(dict, to: dir.appendingPathComponent("engine_model.pth"))
        try SafeTensors.write(dict, to: dir.appendingPathComponent("engine_model.safetensors"), metadata: ["format": "pt"])
        var extra = sampleStateDict()
        extra["we\"ird\\name\n\u{1}é"] = nil  // NaN would need special handling in the Python comparison
        try PyTorchCheckpoint.write(extra, to: dir.appendingPathComponent("engine_dtypes.pth"))
        try SafeTensors.write(sampleStateDict(), to: dir.appendingPathComponent("engine_dtypes.safetensors"), metadata: ["k\"": "v\n"])

        assertSameStateDict(dict, try Checkpoint.load(dir.appendingPathComponent("engine_model.pth")))
        assertSameStateDict(dict, try Checkpoint.load(dir.appendingPathComponent("engine_model.safetensors")))
        assertSameStateDict(extra, try Checkpoint.load(dir.appendingPathComponent("engine_dtypes.pth")))
        assertSameStateDict(sampleStateDict(), try Checkpoint.load(dir.appendingPathComponent("engine_dtypes.safetensors")))
    }

    // MARK: Crafted archives

    private func craftedArchive(prefix: String = "archive/", pickle: [UInt8], storages: [(String, [UInt8])] = [],
                                extraEntries: [(String, [UInt8])] = []) throws -> (TemporaryDirectory, URL) {
        let dir = TemporaryDirectory()
        let url = dir.file("crafted.pth")
        var entries = [(prefix + "data.pkl", pickle), (prefix + "byteorder", Array("little".utf8))]
        entries += storages.map { (prefix + "data/" + $0.0, $0.1) }
        entries += extraEntries
        try writeZip(entries, to: url)
        return (dir, url)
    }

    func testAnyFolderPrefixAndSharedStorageViews() throws {
        for prefix in ["archive/", "my_model_v2/", "", "outer/inner/"] {
            var p = PickleBuilder()
            p.beginDict()
            p.string("a"); p.tensor("FloatStorage", key: "7", numel: 6, offset: 0, size: [2, 3], stride: [3, 1])
            p.string("b"); p.tensor("FloatStorage", key: "7", numel: 6, offset: 1, size: [2, 2], stride: [1, 3])  // transposed-ish view
            p.string("c"); p.tensor("FloatStorage", key: "7", numel: 6, offset: 5, size: [], stride: [])
            p.string("d"); p.tensor("FloatStorage", key: "7", numel: 6, offset: 2, size: [3], stride: [0])  // expanded
            p.endDict(); p.stop()
            let (dir, url) = try craftedArchive(prefix: prefix, pickle: p.bytes, storages: [("7", floatBytes([0, 1, 2, 3, 4, 5]))])
            let dict = try PyTorchCheckpoint.read(url)
            XCTAssertEqual(dict.keys, ["a", "b", "c", "d"], prefix)
            XCTAssertEqual(dict["a"]!.scalars, [0, 1, 2, 3, 4, 5])
            XCTAssertEqual(dict["b"]!.scalars, [1, 4, 2, 5])
            XCTAssertEqual(dict["c"]!.shape, [])
            XCTAssertEqual(dict["c"]!.scalars, [5])
            XCTAssertEqual(dict["d"]!.scalars, [2, 2, 2])
            _ = dir
        }
    }

    func testDisallowedGlobalsAreRefusedAndNeverRun() throws {
        let dir = TemporaryDirectory()
        let marker = dir.file("pwned")
        let cases: [(String, String, Bool)] = [("os", "system", false), ("builtins", "eval", true), ("__builtin__", "exec", false),
                                               ("subprocess", "call", true), ("torch.nn.modules.linear", "Linear", false),
                                               ("torch._utils", "_rebuild_device_tensor_from_numpy", false)]
        for (module, name, useStackGlobal) in cases {
            var p = PickleBuilder()
            if useStackGlobal { p.stackGlobal(module, name) } else { p.global(module, name) }
            p.mark(); p.string("touch \(marker.path)"); p.tuple(); p.reduce(); p.stop()
            let (keep, url) = try craftedArchive(pickle: p.bytes)
            assertCheckpointError(.forbiddenGlobal, mentions: ["crafted.pth", "'\(module).\(name)'", "data.pkl at byte"]) {
                _ = try PyTorchCheckpoint.readObject(url)
            }
            _ = keep
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker.path))
    }

    func testModelPickleGetsAHint() throws {
        var p = PickleBuilder()
        p.global("torchvision.models.resnet", "ResNet"); p.emptyTuple(); p.reduce(); p.stop()
        let (dir, url) = try craftedArchive(pickle: p.bytes)
        assertCheckpointError(.forbiddenGlobal, mentions: ["torchvision.models.resnet.ResNet", "state_dict()"]) {
            _ = try PyTorchCheckpoint.read(url)
        }
        _ = dir
    }

    func testPlainContainersDecode() throws {
        func containers(selfReference: Bool) -> [UInt8] {
            var p = PickleBuilder()
            p.raw([0x7D, 0x71, 0])  // EMPTY_DICT, BINPUT 0
            p.mark()
            p.string("list"); p.raw([0x5D, 0x28, 0x4B, 1, 0x4B, 2, 0x65])  // [1, 2] via APPENDS
            p.string("neg"); p.raw([0x8A, 2, 0x00, 0x80])  // LONG1 -32768
            p.string("big"); p.raw([0x8A, 8] + withUnsafeBytes(of: Int64(-(1 << 50)).littleEndian) { Array($0) })
            p.string("pi"); p.raw([0x47] + withUnsafeBytes(of: (3.5 as Double).bitPattern.bigEndian) { Array($0) })
            p.string("flags"); p.raw([0x88, 0x89, 0x4E, 0x87])  // (True, False, None)
            p.string("bytes"); p.raw([0x43, 3, 1, 2, 3])
            p.string("encoded"); p.global("_codecs", "encode"); p.mark(); p.string("\u{00FF}A"); p.string("latin1"); p.tuple(); p.reduce()
            p.string("set"); p.raw([0x8F, 0x28, 0x4B, 9, 0x90])  // EMPTY_SET, ADDITEMS {9}
            if selfReference { p.string("self"); p.raw([0x68, 0]) }  // BINGET 0: the dict itself
            p.raw([0x75, 0x2E])
            return p.bytes
        }
        let (dir, url) = try craftedArchive(pickle: containers(selfReference: false))
        let object = try PyTorchCheckpoint.readObject(url)
        XCTAssertEqual(object["list"]?.arrayValue?.compactMap(\.intValue), [1, 2])
        XCTAssertEqual(object["neg"]?.intValue, -32768)
        XCTAssertEqual(object["big"]?.intValue, -(1 << 50))
        XCTAssertEqual(object["pi"]?.doubleValue, 3.5)
        XCTAssertEqual(object["flags"]?.description, "(True, False, None)")
        XCTAssertEqual(object["set"]?.arrayValue?.compactMap(\.intValue), [9])
        guard case .bytes(let b)? = object["bytes"], case .bytes(let e)? = object["encoded"] else { return XCTFail("bytes") }
        XCTAssertEqual(b, [1, 2, 3])
        XCTAssertEqual(e, [0xFF, 0x41])
        assertCheckpointError(.noStateDict, mentions: ["without tensors"]) { _ = try PyTorchCheckpoint.read(url) }

        let (dir2, url2) = try craftedArchive(pickle: containers(selfReference: true))
        assertCheckpointError(.unsupported, mentions: ["contains itself"]) { _ = try PyTorchCheckpoint.readObject(url2) }
        _ = (dir, dir2)
    }

    func testBrokenArchivesGiveSpecificErrors() throws {
        var good = PickleBuilder()
        good.beginDict(); good.string("w"); good.tensor("FloatStorage", key: "0", numel: 4, offset: 0, size: [4], stride: [1])
        good.endDict(); good.stop()

        // Storage referenced but missing.
        var (dir, url) = try craftedArchive(pickle: good.bytes)
        assertCheckpointError(.malformed, mentions: ["storage '0'", "archive/data/0 is missing"]) { _ = try PyTorchCheckpoint.read(url) }
        // Storage shorter than declared.
        (dir, url) = try craftedArchive(pickle: good.bytes, storages: [("0", floatBytes([1, 2]))])
        assertCheckpointError(.truncated, mentions: ["archive/data/0 holds 8 bytes", "4 x F32"]) { _ = try PyTorchCheckpoint.read(url) }
        // View reaching past its storage.
        var view = PickleBuilder()
        view.beginDict(); view.string("w"); view.tensor("FloatStorage", key: "0", numel: 4, offset: 2, size: [2, 2], stride: [2, 1])
        view.endDict(); view.stop()
        (dir, url) = try craftedArchive(pickle: view.bytes, storages: [("0", floatBytes([1, 2, 3, 4]))])
        assertCheckpointError(.malformed, mentions: ["storage '0'", "reaches element 5", "holds 4 F32"]) { _ = try PyTorchCheckpoint.read(url) }
        // Unknown storage type.
        var odd = PickleBuilder()
        odd.beginDict(); odd.string("w"); odd.tensor("ComplexFloatStorage", key: "0", numel: 1, offset: 0, size: [1], stride: [1])
        odd.endDict(); odd.stop()
        (dir, url) = try craftedArchive(pickle: odd.bytes, storages: [("0", floatBytes([1, 2]))])
        assertCheckpointError(.forbiddenGlobal, mentions: ["torch.ComplexFloatStorage"]) { _ = try PyTorchCheckpoint.read(url) }
        // Truncated pickle, bad opcode, memo miss, stack underflow.
        (dir, url) = try craftedArchive(pickle: Array(good.bytes.dropLast(7)), storages: [("0", floatBytes([1, 2, 3, 4]))])
        assertCheckpointError(.truncated, mentions: ["archive/data.pkl at byte"]) { _ = try PyTorchCheckpoint.read(url) }
        (dir, url) = try craftedArchive(pickle: [0x80, 0x02, 0xFF, 0x2E])
        assertCheckpointError(.unsupported, mentions: ["opcode 0xff", "at byte 2"]) { _ = try PyTorchCheckpoint.read(url) }
        (dir, url) = try craftedArchive(pickle: [0x80, 0x02, 0x68, 0x05, 0x2E])
        assertCheckpointError(.malformed, mentions: ["memo key 5"]) { _ = try PyTorchCheckpoint.read(url) }
        (dir, url) = try craftedArchive(pickle: [0x80, 0x02, 0x52, 0x2E])
        assertCheckpointError(.malformed, mentions: ["stack underflow"]) { _ = try PyTorchCheckpoint.read(url) }
        (dir, url) = try craftedArchive(pickle: [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E])
        assertCheckpointError(.truncated, mentions: ["larger than the whole pickle"]) { _ = try PyTorchCheckpoint.read(url) }
        // Not a state dict at all.
        (dir, url) = try craftedArchive(pickle: [0x80, 0x02, 0x5D, 0x2E])
        assertCheckpointError(.noStateDict, mentions: ["a list"]) { _ = try PyTorchCheckpoint.read(url) }
        // Zip without data.pkl, and TorchScript-looking zips.
        dir = TemporaryDirectory(); url = dir.file("x.pth")
        try writeZip([("x/version", [0x33])], to: url)
        assertCheckpointError(.unrecognizedFormat, mentions: ["no data.pkl"]) { _ = try PyTorchCheckpoint.read(url) }
        try writeZip([("x/constants.pkl", [0x80, 0x02, 0x4E, 0x2E]), ("x/code/__torch__.py", [])], to: url)
        assertCheckpointError(.unsupported, mentions: ["TorchScript"]) { _ = try PyTorchCheckpoint.read(url) }
        _ = dir
    }

    func testCorruptZipBytesAreDetected() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("m.pth")
        var dict = StateDict()
        dict["w"] = Tensor(shape: [16], scalars: (0..<16).map(Float.init))
        try PyTorchCheckpoint.write(dict, to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        let tensorData = try XCTUnwrap(Data(bytes).range(of: Data(floatBytes((0..<16).map(Float.init)))))
        bytes[tensorData.lowerBound + 20] ^= 0x40  // flip a bit inside the tensor data
        let broken = TemporaryDirectory()
        let target = broken.file("m.pth")
        write(bytes, to: target)
        assertCheckpointError(.malformed, mentions: ["m.pth", "'archive/data/0' is corrupt", "CRC-32"]) { _ = try PyTorchCheckpoint.read(target) }
        write(Array(bytes.prefix(bytes.count - 30)), to: target)
        assertCheckpointError(.truncated, mentions: ["zip archive", "end of central directory"]) { _ = try PyTorchCheckpoint.read(target) }
        write(Array("PK\u{3}\u{4}".utf8), to: target)
        assertCheckpointError(.truncated, mentions: ["too short for a zip"]) { _ = try PyTorchCheckpoint.read(target) }
    }

    // MARK: Facade and atomic writes

    func testFacadeChoosesFormatsAndRejectsBadRequests() throws {
        let dir = TemporaryDirectory()
        let dict = sampleStateDict()
        // Content decides loading, not the extension.
        try Checkpoint.save(dict, to: dir.file("weights.bin"), format: .safetensors, metadata: ["k": "v"])
        XCTAssertEqual(try Checkpoint.format(of: dir.file("weights.bin")), .safetensors)
        assertSameStateDict(dict, try Checkpoint.load(dir.file("weights.bin")))
        try Checkpoint.save(dict, to: dir.file("weights.safetensors"))
        XCTAssertEqual(try Checkpoint.format(of: dir.file("weights.safetensors")), .safetensors)
        try Checkpoint.save(dict, to: dir.file("weights.pt"))
        XCTAssertEqual(try Checkpoint.format(of: dir.file("weights.pt")), .pytorch)

        assertCheckpointError(.invalidArgument, mentions: ["weights.npz", ".npz"]) { try Checkpoint.save(dict, to: dir.file("weights.npz")) }
        assertCheckpointError(.invalidArgument, mentions: ["metadata"]) { try Checkpoint.save(dict, to: dir.file("w.pth"), metadata: ["a": "b"]) }
        write(Array("hello, world, not weights".utf8), to: dir.file("notes.txt"))
        assertCheckpointError(.unrecognizedFormat, mentions: ["notes.txt", "not a recognised checkpoint"]) { _ = try Checkpoint.load(dir.file("notes.txt")) }
        assertCheckpointError(.io, mentions: ["does not exist"]) { try Checkpoint.save(dict, to: dir.file("no/such/dir/w.pth")) }
        XCTAssertEqual(dir.contents, ["notes.txt", "weights.bin", "weights.pt", "weights.safetensors"])
    }

    func testStateDictConveniences() throws {
        let dir = TemporaryDirectory()
        let dict = sampleStateDict()
        try dict.save(to: dir.file("a.pth"))
        try dict.save(to: dir.file("b.safetensors"), metadata: ["epoch": "1"])
        assertSameStateDict(dict, try StateDict(contentsOf: dir.file("a.pth")))
        assertSameStateDict(dict, try StateDict(contentsOf: dir.file("b.safetensors")))
        XCTAssertEqual(try SafeTensors.readMetadata(dir.file("b.safetensors")), ["epoch": "1"])
    }

    func testDuplicateDictKeysKeepFirstPositionAndLastValue() throws {
        var p = PickleBuilder()
        p.raw([0x7D]); p.mark()
        p.string("a"); p.int(1); p.string("b"); p.int(2); p.string("a"); p.int(3); p.int(7); p.int(8)
        p.raw([0x75, 0x2E])
        let (dir, url) = try craftedArchive(pickle: p.bytes)
        XCTAssertEqual(try PyTorchCheckpoint.readObject(url).description, "{'a': 3, 'b': 2, 7: 8}")
        _ = dir
    }

    func testFailedWriteKeepsTheOldFileAndLeavesNoTemporary() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("model.pth")
        var old = StateDict()
        old["old"] = Tensor(shape: [1], scalars: [1])
        try Checkpoint.save(old, to: url)
        struct Boom: Error {}
        XCTAssertThrowsError(try writeAtomically(to: url) { out in
            try out.write([UInt8](repeating: 7, count: 3_000_000))  // enough to reach the disk
            throw Boom()
        })
        XCTAssertEqual(try Checkpoint.load(url).keys, ["old"])
        XCTAssertEqual(dir.contents, ["model.pth"])
        // A successful save replaces the file.
        var new = StateDict()
        new["new"] = Tensor(shape: [1], scalars: [2])
        try Checkpoint.save(new, to: url)
        XCTAssertEqual(try Checkpoint.load(url).keys, ["new"])
        XCTAssertEqual(dir.contents, ["model.pth"])
    }
}
