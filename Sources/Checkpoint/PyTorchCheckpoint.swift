import Foundation
import Torch

/// Reads and writes PyTorch `torch.save` checkpoints (the zip format used since PyTorch 1.6):
/// `<prefix>/data.pkl` holds a pickle whose tensors point at raw storages `<prefix>/data/<key>`.
///
/// Reading uses a restricted unpickler that allows only tensors, storages, dtypes, OrderedDict and
/// plain containers, like `torch.load(..., weights_only=True)`; anything else is refused without
/// being run. Writing produces a file that `torch.load(path, weights_only=True)` returns as an
/// OrderedDict of tensors, ready for `model.load_state_dict`.
public enum PyTorchCheckpoint {
    /// Most members accepted in a checkpoint's zip archive (one per storage, plus a few). Real models
    /// hold hundreds to a few thousand; the cap bounds the work a hostile directory can ask for.
    public static let maximumEntries = 150_000
    /// Most values a checkpoint's pickle may decode to, counting each reference to a shared object
    /// once more (and at most 64 per byte of `data.pkl`): the memo lets a few hundred bytes describe
    /// a tuple of 2^40 tuples, which would otherwise expand until memory runs out.
    public static let maximumObjects = 5_000_000

    /// Keys under which training scripts commonly nest the model's weights.
    public static let nestedStateDictKeys = ["state_dict", "model_state_dict", "model", "net", "network"]

    /// The tensors of a checkpoint: the top-level dict's tensors, or those of a nested
    /// `state_dict` / `model_state_dict` / `model` / `net` dict; `module.` prefixes left by
    /// `nn.DataParallel` are removed.
    public static func read(_ url: URL) throws -> StateDict {
        try stateDict(from: try readObject(url), url)
    }

    static func stateDict(from object: PickleValue, _ url: URL) throws -> StateDict {
        guard let dict = stateDict(from: object) else {
            let what: String
            switch object {
            case .dict: what = "a dict without tensors (looked at the top level and under \(nestedStateDictKeys.map { "'\($0)'" }.joined(separator: ", ")))"
            case .tensor: what = "a single tensor, not a dict of tensors"
            case .list, .tuple: what = "a list, not a dict of tensors"
            default: what = "'\(object.description.prefix(60))', not a dict of tensors"
            }
            throw CheckpointError(.noStateDict, url, "holds \(what)")
        }
        return dict
    }

    /// Everything the checkpoint's pickle holds (epoch, optimizer state, metrics, tensors), decoded
    /// safely: the Swift counterpart of `torch.load(path, weights_only=True)`.
    public static func readObject(_ url: URL) throws -> PickleValue {
        try decodeObject(try readFileBytes(url), url)
    }

    /// Decodes the checkpoint in the file at `url`, whose bytes `data` holds (mapped): the pickle
    /// and storages are read from the file through ZIPFoundation.
    static func decodeObject(_ data: Data, _ url: URL) throws -> PickleValue {
        try checkIsZip(data, url)
        let zip = try ZipReader(url: url, size: data.count)

        let pickles = zip.entries.map(\.name).filter { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }
        guard let pickleName = pickles.min(by: { $0.split(separator: "/").count < $1.split(separator: "/").count }),
              let pickleEntry = zip.entry(named: pickleName) else {
            if zip.entries.contains(where: { $0.name.hasSuffix("constants.pkl") || $0.name.contains("/code/") }) {
                throw CheckpointError(.unsupported, url, "this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead")
            }
            throw CheckpointError(.unrecognizedFormat, url, "zip archive has no data.pkl, so it is not a torch.save checkpoint")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))

        var bigEndian = false
        if let entry = zip.entry(named: prefix + "byteorder") {
            let order = String(decoding: try zip.contents(of: entry), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            switch order {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw CheckpointError(.malformed, url, "\(prefix)byteorder says '\(order.prefix(20))', expected 'little' or 'big'")
            }
        }

        var storages: [String: TorchStorage] = [:]
        let loader: Unpickler.StorageLoader = { type, key, numel in
            let cacheKey = "\(type.rawValue)/\(key)"
            if let cached = storages[cacheKey] { return cached }
            let name = prefix + "data/" + key
            guard let entry = zip.entry(named: name) else {
                throw CheckpointError(.malformed, url, "storage '\(key)' is referenced by data.pkl but \(name) is missing from the archive")
            }
            let bytes = try zip.contents(of: entry)
            guard let needed = checkedByteCount(shape: [numel], itemSize: type.itemSize), bytes.count >= needed else {
                throw CheckpointError(.truncated, url, "storage \(name) holds \(bytes.count) bytes but data.pkl declares \(numel) x \(type.rawValue)")
            }
            let storage = TorchStorage(key: key, type: type, bytes: bytes.prefix(needed))
            storages[cacheKey] = storage
            return storage
        }
        return try unpickle(try zip.contents(of: pickleEntry), url: url, entryName: pickleName,
                            maximumTensorBytes: max(data.count, 1 << 20) &* 16, bigEndian: bigEndian, loader: loader)
    }

    /// Runs the restricted unpickler over one pickle stream and converts the result.
    static func unpickle(_ pickle: Data, url: URL, entryName: String, maximumTensorBytes: Int, bigEndian: Bool,
                         loader: @escaping Unpickler.StorageLoader) throws -> PickleValue {
        var unpickler = Unpickler(data: pickle, url: url, entryName: entryName,
                                  maximumTensorBytes: maximumTensorBytes, loadStorage: loader)
        unpickler.storageIsBigEndian = bigEndian
        defer { unpickler.dismantle() }
        try unpickler.load()
        var converter = PickleConverter(url: url, entryName: entryName,
                                        budget: min(maximumObjects, max(100_000, 64 &* pickle.count)))
        return try converter.convert(unpickler.root)
    }

    /// The state dict inside a decoded checkpoint (see `read`), or nil when it holds no tensors.
    public static func stateDict(from object: PickleValue) -> StateDict? {
        guard case .dict(let top) = object else { return nil }
        var pairs = top
        for key in nestedStateDictKeys {
            if let nested = object[key]?.dictValue, nested.contains(where: { $0.value.tensorValue != nil }) {
                pairs = nested
                break
            }
        }
        var dict = StateDict()
        for (key, value) in pairs {
            guard case .string(var name) = key, case .tensor(let tensor) = value else { continue }
            if name.hasPrefix("module.") { name.removeFirst("module.".count) }
            dict[name] = tensor
        }
        return dict.isEmpty ? nil : dict
    }

    /// Writes `dict` as a `torch.save`-style zip (pickle protocol 2, one storage per tensor,
    /// stored entries), atomically.
    public static func write(_ dict: StateDict, to url: URL) throws {
        let folder = "archive"
        let pickle = PickleWriter.stateDictPickle(dict)
        try writeAtomically(to: url) { out in
            let zip = try ZipWriter(out)
            try zip.add("\(folder)/data.pkl", bytes: pickle)
            try zip.add("\(folder)/byteorder", bytes: Array("little".utf8))
            for (index, (_, tensor)) in dict.enumerated() {
                try zip.add("\(folder)/data/\(index)") { emit in
                    try withLittleEndianBytes(of: tensor) { try emit($0) }
                }
            }
            try zip.add("\(folder)/version", bytes: Array("3\n".utf8))
            try zip.finish()
        }
    }

    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    static func isZip(_ data: Data) -> Bool {
        data.count >= 4 && data.prefix(4).elementsEqual([0x50, 0x4B, 0x03, 0x04]) ||
            data.count >= 4 && data.prefix(4).elementsEqual([0x50, 0x4B, 0x05, 0x06])
    }

    static func isLegacy(_ data: Data) -> Bool {
        data.count >= legacyMagic.count && data.prefix(legacyMagic.count).elementsEqual(legacyMagic)
    }

    static func checkIsZip(_ data: Data, _ url: URL) throws {
        if isZip(data) { return }
        if isLegacy(data) {
            throw CheckpointError(.legacyFormat, url, "legacy PyTorch format (saved before PyTorch 1.6, not a zip archive); re-save it in PyTorch with torch.save(torch.load(path), path, _use_new_zipfile_serialization=True)")
        }
        throw CheckpointError(.unrecognizedFormat, url, "not a PyTorch checkpoint: a torch.save file is a zip archive starting with 'PK'")
    }
}

/// Turns the unpickler's shared, mutable items into values, refusing cycles and absurd depth.
struct PickleConverter {
    let url: URL
    let entryName: String
    private var visiting = Set<ObjectIdentifier>()
    private static let maximumDepth = 500
    /// Values still allowed (see `PyTorchCheckpoint.maximumObjects`).
    private var budget: Int
    private let initialBudget: Int

    init(url: URL, entryName: String, budget: Int = PyTorchCheckpoint.maximumObjects) {
        self.url = url
        self.entryName = entryName
        self.budget = budget
        self.initialBudget = budget
    }

    mutating func convert(_ item: Unpickler.Item, depth: Int = 0) throws -> PickleValue {
        guard depth < PickleConverter.maximumDepth else {
            throw CheckpointError(.unsupported, url, "\(entryName): objects nested more than \(PickleConverter.maximumDepth) levels deep")
        }
        budget -= 1
        guard budget >= 0 else {
            throw CheckpointError(.unsupported, url, "\(entryName): decodes to more than \(initialBudget) values once shared references are expanded (the limit PyTorchCheckpoint.maximumObjects = \(PyTorchCheckpoint.maximumObjects), and at most 64 per byte of the pickle)")
        }
        switch item {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .float(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .tensor(let t): return .tensor(t)
        case .global(let module, let name): return .global("\(module).\(name)")
        case .storage(let s):
            throw CheckpointError(.unsupported, url, "\(entryName): a bare storage ('\(s.key)') outside a tensor is not supported")
        case .tuple(let items):
            return .tuple(try items.map { try convert($0, depth: depth + 1) })
        case .list(let box):
            let id = ObjectIdentifier(box)
            guard visiting.insert(id).inserted else { throw cycle() }
            defer { visiting.remove(id) }
            return .list(try box.items.map { try convert($0, depth: depth + 1) })
        case .dict(let box):
            let id = ObjectIdentifier(box)
            guard visiting.insert(id).inserted else { throw cycle() }
            defer { visiting.remove(id) }
            return .dict(try box.pairs.map { (key: try convert($0.0, depth: depth + 1), value: try convert($0.1, depth: depth + 1)) })
        }
    }

    private func cycle() -> CheckpointError {
        CheckpointError(.unsupported, url, "\(entryName): a container contains itself; recursive objects are not supported")
    }
}

/// Emits the pickle `torch.save(state_dict)` would: protocol 2, an OrderedDict mapping each name
/// to `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`.
enum PickleWriter {
    static func stateDictPickle(_ dict: StateDict) -> [UInt8] {
        var p: [UInt8] = [0x80, 0x02]  // PROTO 2
        var memo: [String: UInt8] = [:]

        func global(_ module: String, _ name: String) {
            let key = "\(module).\(name)"
            if let index = memo[key] {
                p += [0x68, index]  // BINGET
                return
            }
            p.append(0x63)  // GLOBAL
            p += Array("\(module)\n\(name)\n".utf8)
            let index = UInt8(memo.count)
            memo[key] = index
            p += [0x71, index]  // BINPUT
        }
        func string(_ s: String) {
            let bytes = Array(s.utf8)
            p.append(0x58)  // BINUNICODE
            p += withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { Array($0) }
            p += bytes
        }
        func int(_ v: Int) {
            if v >= 0 && v < 256 {
                p += [0x4B, UInt8(v)]  // BININT1
            } else if v >= 0 && v < 65536 {
                p += [0x4D, UInt8(v & 0xFF), UInt8(v >> 8)]  // BININT2
            } else if let v32 = Int32(exactly: v) {
                p.append(0x4A)  // BININT
                p += withUnsafeBytes(of: v32.littleEndian) { Array($0) }
            } else {
                p += [0x8A, 8]  // LONG1, 8 bytes two's complement
                p += withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) }
            }
        }
        func intTuple(_ values: [Int]) {
            if values.isEmpty { p.append(0x29); return }  // EMPTY_TUPLE
            p.append(0x28)  // MARK
            values.forEach(int)
            p.append(0x74)  // TUPLE
        }

        global("collections", "OrderedDict")
        p += [0x29, 0x52]  // EMPTY_TUPLE, REDUCE -> OrderedDict()
        p.append(0x28)  // MARK
        for (index, (name, tensor)) in dict.enumerated() {
            string(name)
            global("torch._utils", "_rebuild_tensor_v2")
            p.append(0x28)  // MARK (arguments)
            p.append(0x28)  // MARK (persistent id)
            string("storage")
            global("torch", ElementType(storing: tensor.dtype).torchStorageName)
            string(String(index))
            string("cpu")
            int(tensor.count)
            p.append(0x74)  // TUPLE
            p.append(0x51)  // BINPERSID
            int(0)  // storage offset
            intTuple(tensor.shape)
            intTuple(Shape.strides(tensor.shape))
            p.append(0x89)  // NEWFALSE: requires_grad
            global("collections", "OrderedDict")
            p += [0x29, 0x52]  // backward hooks: OrderedDict()
            p.append(0x74)  // TUPLE
            p.append(0x52)  // REDUCE
        }
        p.append(0x75)  // SETITEMS
        p.append(0x2E)  // STOP
        return p
    }
}
