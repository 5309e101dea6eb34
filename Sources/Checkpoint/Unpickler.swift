import Foundation
import Torch

/// A storage referenced from a pickle through `persistent_load`: raw bytes of one `data/<key>`
/// entry and the element type of the storage class that named it.
final class TorchStorage {
    let key: String
    let type: ElementType
    let bytes: Data
    /// Elements actually present in the file.
    var count: Int { bytes.count / type.itemSize }

    init(key: String, type: ElementType, bytes: Data) {
        self.key = key
        self.type = type
        self.bytes = bytes
    }
}

/// A restricted unpickler for PyTorch checkpoints (pickle protocols 0-5 as far as torch.save
/// uses them). It never imports or calls anything: the only globals it accepts are the tensor
/// rebuild functions, storage and dtype names, OrderedDict and a few plain containers, each
/// interpreted by code here. Any other global (`os.system`, `builtins.eval`, a model class) is
/// refused before anything else happens.
struct Unpickler {
    /// Loads the storage for `key` (called once per key; results are shared between tensors).
    typealias StorageLoader = (_ type: ElementType, _ key: String, _ numel: Int) throws -> TorchStorage

    // Mutable containers are references while unpickling, because the memo shares them and
    // APPENDS/SETITEMS mutate them after they were memoized.
    final class ListBox { var items: [Item] = []; let isSet: Bool; init(isSet: Bool = false) { self.isSet = isSet } }
    final class DictBox {
        var pairs: [(Item, Item)] = []
        /// Positions of string and integer keys, so large dicts fill in linear time.
        var stringKeys: [String: Int] = [:]
        var intKeys: [Int: Int] = [:]
    }

    enum Item {
        case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
        case list(ListBox), tuple([Item]), dict(DictBox)
        case global(module: String, name: String)
        case storage(TorchStorage)
        case tensor(Tensor)
    }

    let url: URL
    let entryName: String
    let data: Data
    let loadStorage: StorageLoader
    /// Largest tensor (in bytes) a view may expand to; guards against tiny files claiming huge shapes.
    let maximumTensorBytes: Int

    private var position = 0
    private var stack: [Item] = []
    private var marks: [Int] = []
    private var memo: [Int: Item] = [:]
    private var opcodeStart = 0

    init(data: Data, url: URL, entryName: String, maximumTensorBytes: Int, loadStorage: @escaping StorageLoader) {
        self.data = data
        self.url = url
        self.entryName = entryName
        self.maximumTensorBytes = maximumTensorBytes
        self.loadStorage = loadStorage
    }

    private func fail(_ message: String, _ kind: CheckpointError.Kind = .malformed) -> CheckpointError {
        CheckpointError(kind, url, "\(entryName) at byte \(opcodeStart): \(message)")
    }

    // MARK: Reading primitives

    private mutating func byteArray(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= data.count - position else {
            throw fail("pickle ends early: needs \(n) more bytes, \(data.count - position) left", .truncated)
        }
        let start = data.startIndex + position
        position += n
        return [UInt8](data[start ..< start + n])
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        guard n <= data.count - position else {
            throw fail("pickle ends early: needs \(n) more bytes, \(data.count - position) left", .truncated)
        }
        let start = position
        position += n
        return data.withUnsafeBytes { raw in
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(raw[start + i]) << (8 * UInt64(i)) }
            return v
        }
    }

    private mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(data.count) else {
            throw fail("length \(v) is larger than the whole pickle (\(data.count) bytes)", .truncated)
        }
        return Int(v)
    }

    private mutating func line() throws -> String {
        let start = data.startIndex + position
        guard let newline = data[start...].firstIndex(of: 0x0A) else {
            throw fail("pickle ends inside a text line", .truncated)
        }
        position = newline - data.startIndex + 1
        return String(decoding: data[start ..< newline], as: UTF8.self)
    }

    private mutating func utf8String(_ n: Int) throws -> String {
        let b = try byteArray(n)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw fail("string is not valid UTF-8")
        }
        return s
    }

    // MARK: Stack helpers

    private mutating func pop() throws -> Item {
        guard let top = stack.popLast() else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw fail("stack underflow across a MARK") }
        return top
    }

    private mutating func popToMark() throws -> [Item] {
        guard let mark = marks.popLast() else { throw fail("no MARK on the stack") }
        guard mark <= stack.count else { throw fail("MARK beyond the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func top() throws -> Item {
        guard let item = stack.last else { throw fail("stack underflow") }
        return item
    }

    // MARK: Main loop

    /// The object built by `load()`.
    private(set) var root: Item = .none

    /// Runs the pickle to STOP; the object it built is `root`.
    mutating func load() throws {
        root = try run()
    }

    /// Releases everything the unpickler built without recursion. A hostile pickle can nest
    /// containers hundreds of thousands deep in a few bytes each; letting Swift free such a tree
    /// recursively would overflow the stack. Here each item's children are moved to a work list
    /// (and boxes emptied) before the item itself is freed, so no release goes deeper than a level.
    ///
    /// Tuples are values that the memo may share many times over (a tuple of two copies of a tuple
    /// of two copies of ...); each tuple buffer is visited once and kept until the end, outermost
    /// first, so releasing them is shallow too and the walk stays linear in what was built.
    mutating func dismantle() {
        var pending = stack + Array(memo.values) + [root]
        stack = []
        memo = [:]
        root = .none
        var seenTuples = Set<UnsafeRawPointer>()
        var keptTuples: [Item] = []
        defer { keptTuples.removeAll() }
        while let item = pending.popLast() {
            switch item {
            case .tuple(let children):
                guard let buffer = children.withUnsafeBufferPointer({ $0.baseAddress.map(UnsafeRawPointer.init) }),
                      seenTuples.insert(buffer).inserted else { continue }
                keptTuples.append(item)
                pending += children
            case .list(let box): pending += box.items; box.items = []
            case .dict(let box):
                for (k, v) in box.pairs { pending.append(k); pending.append(v) }
                box.pairs = []
                box.stringKeys = [:]
                box.intKeys = [:]
            default: break
            }
        }
    }

    private mutating func run() throws -> Item {
        while true {
            opcodeStart = position
            guard position < data.count else { throw fail("pickle ends without STOP", .truncated) }
            let op = try uint(1)
            switch UInt8(op) {
            case 0x80: // PROTO
                let version = try uint(1)
                guard version <= 5 else { throw fail("unsupported pickle protocol \(version)", .unsupported) }
            case 0x95: _ = try uint(8) // FRAME: framing is only a read-ahead hint
            case 0x2E: // STOP
                let result = try pop()
                return result
            case 0x28: marks.append(stack.count) // MARK
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popToMark() // POP_MARK
            case 0x32: stack.append(try top()) // DUP
            case 0x4E: stack.append(.none) // NONE
            case 0x88: stack.append(.bool(true)) // NEWTRUE
            case 0x89: stack.append(.bool(false)) // NEWFALSE

            // Integers and floats
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4))))) // BININT
            case 0x4B: stack.append(.int(Int(try uint(1)))) // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2)))) // BININT2
            case 0x8A: stack.append(.int(try long(try length(1)))) // LONG1
            case 0x8B: stack.append(.int(try long(try length(4)))) // LONG4
            case 0x49: // INT (text; "01"/"00" are True/False in protocol 0)
                let text = try line()
                if text == "01" { stack.append(.bool(true)) } else if text == "00" { stack.append(.bool(false)) } else {
                    guard let v = Int(text) else { throw fail("bad INT literal '\(text.prefix(40))'") }
                    stack.append(.int(v))
                }
            case 0x4C: // LONG (text)
                var text = try line()
                if text.hasSuffix("L") { text.removeLast() }
                guard let v = Int(text) else { throw fail("integer '\(text.prefix(40))' does not fit in 64 bits", .unsupported) }
                stack.append(.int(v))
            case 0x47: // BINFLOAT: big-endian double
                let b = try byteArray(8)
                let bits = b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x46: // FLOAT (text)
                let text = try line()
                guard let v = Double(text) else { throw fail("bad FLOAT literal '\(text.prefix(40))'") }
                stack.append(.float(v))

            // Strings and bytes
            case 0x58: stack.append(.string(try utf8String(try length(4)))) // BINUNICODE
            case 0x8C: stack.append(.string(try utf8String(try length(1)))) // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8String(try length(8)))) // BINUNICODE8
            case 0x42: stack.append(.bytes(try byteArray(try length(4)))) // BINBYTES
            case 0x43: stack.append(.bytes(try byteArray(try length(1)))) // SHORT_BINBYTES
            case 0x8E, 0x96: stack.append(.bytes(try byteArray(try length(8)))) // BINBYTES8, BYTEARRAY8
            case 0x54: stack.append(.string(latin1(try byteArray(try length(4))))) // BINSTRING (Python 2 str)
            case 0x55: stack.append(.string(latin1(try byteArray(try length(1))))) // SHORT_BINSTRING
            case 0x53: // STRING (quoted text)
                var text = try line()
                if text.count >= 2, let q = text.first, q == "'" || q == "\"", text.last == q {
                    text = String(text.dropFirst().dropLast())
                }
                stack.append(.string(text))
            case 0x56: stack.append(.string(try line())) // UNICODE (raw-unicode-escape; ASCII suffices here)

            // Containers
            case 0x5D: stack.append(.list(ListBox())) // EMPTY_LIST
            case 0x6C: let items = try popToMark(); let box = ListBox(); box.items = items; stack.append(.list(box)) // LIST
            case 0x61: // APPEND
                let value = try pop()
                try append([value])
            case 0x65: try append(try popToMark()) // APPENDS
            case 0x29: stack.append(.tuple([])) // EMPTY_TUPLE
            case 0x74: stack.append(.tuple(try popToMark())) // TUPLE
            case 0x85: stack.append(.tuple([try pop()])) // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b])) // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c])) // TUPLE3
            case 0x7D: stack.append(.dict(DictBox())) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popToMark()
                let box = DictBox()
                try setItems(box, items)
                stack.append(.dict(box))
            case 0x73: // SETITEM
                let value = try pop(), key = try pop()
                guard case .dict(let box) = try top() else { throw fail("SETITEM on a non-dict") }
                try setItems(box, [key, value])
            case 0x75: // SETITEMS
                let items = try popToMark()
                guard case .dict(let box) = try top() else { throw fail("SETITEMS on a non-dict") }
                try setItems(box, items)
            case 0x8F: stack.append(.list(ListBox(isSet: true))) // EMPTY_SET
            case 0x90: // ADDITEMS
                let items = try popToMark()
                guard case .list(let box) = try top(), box.isSet else { throw fail("ADDITEMS on a non-set") }
                box.items += items
            case 0x91: let items = try popToMark(); let box = ListBox(isSet: true); box.items = items; stack.append(.list(box)) // FROZENSET

            // Memo
            case 0x71: try put(Int(try uint(1))) // BINPUT
            case 0x72: try put(Int(try uint(4))) // LONG_BINPUT
            case 0x94: try put(memo.count) // MEMOIZE
            case 0x70: // PUT (text)
                let text = try line()
                guard let index = Int(text) else { throw fail("bad PUT index '\(text.prefix(40))'") }
                try put(index)
            case 0x68: try get(Int(try uint(1))) // BINGET
            case 0x6A: try get(Int(try uint(4))) // LONG_BINGET
            case 0x67: // GET (text)
                let text = try line()
                guard let index = Int(text) else { throw fail("bad GET index '\(text.prefix(40))'") }
                try get(index)

            // Globals and object construction
            case 0x63: // GLOBAL "module\nname\n"
                let module = try line()
                let name = try line()
                stack.append(try global(module, name))
            case 0x93: // STACK_GLOBAL
                let nameItem = try pop(), moduleItem = try pop()
                guard case .string(let module) = moduleItem, case .string(let name) = nameItem else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                stack.append(try global(module, name))
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                guard case .tuple(let arguments) = args else { throw fail("REDUCE arguments are not a tuple") }
                stack.append(try call(callable, arguments))
            case 0x81: // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case .tuple(let arguments) = args else { throw fail("NEWOBJ arguments are not a tuple") }
                stack.append(try call(cls, arguments))
            case 0x92: // NEWOBJ_EX
                let kwargs = try pop(), args = try pop(), cls = try pop()
                guard case .tuple(let arguments) = args else { throw fail("NEWOBJ_EX arguments are not a tuple") }
                if case .dict(let box) = kwargs, !box.pairs.isEmpty { throw fail("NEWOBJ_EX with keyword arguments is not supported", .unsupported) }
                stack.append(try call(cls, arguments))
            case 0x62: // BUILD: object state (an OrderedDict's _metadata, a Parameter's attributes) is dropped
                _ = try pop()
                switch try top() {
                case .dict, .tensor, .list: break
                default: throw fail("BUILD on an object that takes no state")
                }
            case 0x51: // BINPERSID
                let pid = try pop()
                stack.append(try persistentLoad(pid))
            case 0x50: // PERSID (text)
                throw fail("text persistent ids are not used by torch.save", .unsupported)
            default:
                let name = UnicodeScalar(UInt8(op)).isASCII && op >= 0x20 ? " '\(Character(UnicodeScalar(UInt8(op))))'" : ""
                throw fail("unsupported pickle opcode 0x\(String(op, radix: 16))\(name)", .unsupported)
            }
        }
    }

    private func latin1(_ bytes: [UInt8]) -> String {
        String(String.UnicodeScalarView(bytes.map { UnicodeScalar($0) }))
    }

    /// Little-endian two's-complement integer of `n` bytes (LONG1/LONG4).
    private mutating func long(_ n: Int) throws -> Int {
        let b = try byteArray(n)
        guard !b.isEmpty else { return 0 }
        // Beyond 8 bytes the value must be a sign extension to fit in Int64.
        if b.count > 8 {
            let fill: UInt8 = b[7] & 0x80 != 0 ? 0xFF : 0
            guard b[8...].allSatisfy({ $0 == fill }) else { throw fail("integer of \(n) bytes does not fit in 64 bits", .unsupported) }
        }
        var v: UInt64 = 0
        for (i, byte) in b.prefix(8).enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
        if b.count < 8, b[b.count - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(b.count)) }
        return Int(Int64(bitPattern: v))
    }

    private mutating func put(_ index: Int) throws {
        memo[index] = try top()
    }

    private mutating func get(_ index: Int) throws {
        guard let item = memo[index] else { throw fail("memo key \(index) was never stored") }
        stack.append(item)
    }

    private mutating func append(_ values: [Item]) throws {
        guard case .list(let box) = try top() else { throw fail("APPEND(S) on a non-list") }
        box.items += values
    }

    private func setItems(_ box: DictBox, _ items: [Item]) throws {
        guard items.count % 2 == 0 else { throw fail("odd number of items for a dict") }
        for i in stride(from: 0, to: items.count, by: 2) {
            let key = items[i], value = items[i + 1]
            let existing: Int?
            switch key {
            case .string(let k): existing = box.stringKeys[k]; if existing == nil { box.stringKeys[k] = box.pairs.count }
            case .int(let k): existing = box.intKeys[k]; if existing == nil { box.intKeys[k] = box.pairs.count }
            default: existing = nil  // other keys (tuples, floats) are kept as given
            }
            if let existing {
                box.pairs[existing].1 = value
            } else {
                box.pairs.append((key, value))
            }
        }
    }

    // MARK: Globals

    private static let storageTypes = Set(ElementType.allCases.map(\.torchStorageName))
    private static let callables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch.Size", "builtins.set", "builtins.frozenset",
        "_codecs.encode", "torch.Tensor", "torch.nn.parameter.Parameter",
    ]

    private func global(_ module: String, _ name: String) throws -> Item {
        let full = "\(module).\(name)"
        if Unpickler.callables.contains(full) { return .global(module: module, name: name) }
        if module == "torch", Unpickler.storageTypes.contains(name) || ElementType(torchDTypeName: name) != nil {
            return .global(module: module, name: name)
        }
        var hint = ""
        if module == "__main__" || module.hasPrefix("torch.nn.modules") || module.hasPrefix("torchvision.models") {
            hint = " (the file pickles a Python class; in PyTorch, save model.state_dict() instead of the model)"
        } else if module == "__torch__" || module.hasPrefix("__torch__.") {
            hint = " (a TorchScript archive from torch.jit.save; save model.state_dict() with torch.save instead)"
        }
        throw CheckpointError(.forbiddenGlobal, url,
                              "\(entryName) at byte \(opcodeStart): refusing to load global '\(full)': only tensors, storages and plain containers are allowed; nothing was executed\(hint)")
    }

    private func call(_ callable: Item, _ args: [Item]) throws -> Item {
        guard case .global(let module, let name) = callable else {
            throw fail("REDUCE on something that is not a callable global")
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            let box = DictBox()
            if let first = args.first {
                guard args.count == 1, case .list(let pairs) = first else { throw fail("OrderedDict(...) with unexpected arguments") }
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.count == 2 else { throw fail("OrderedDict items are not pairs") }
                    try setItems(box, kv)
                }
            }
            return .dict(box)
        case "builtins.set", "builtins.frozenset":
            let box = ListBox(isSet: true)
            if let first = args.first {
                switch first {
                case .list(let l): box.items = l.items
                case .tuple(let t): box.items = t
                default: throw fail("set(...) with unexpected arguments")
                }
            }
            return .list(box)
        case "torch.Size":
            guard args.count == 1, case .tuple(let dims) = args[0] else { throw fail("torch.Size(...) needs one tuple") }
            return .tuple(dims)
        case "_codecs.encode":
            // Protocol 2 spells bytes as _codecs.encode(text, 'latin1').
            guard args.count == 2, case .string(let text) = args[0], case .string(let encoding) = args[1],
                  ["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased()) else {
                throw fail("_codecs.encode(...) with unexpected arguments")
            }
            var out: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw fail("_codecs.encode: character outside latin1") }
                out.append(UInt8(scalar.value))
            }
            return .bytes(out)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return .tensor(try rebuildTensor(args))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = args.first, case .tensor = data else { throw fail("_rebuild_parameter without a tensor") }
            return data
        case "torch._tensor._rebuild_from_type_v2":
            // (func, new_type, args, state): the tensor is whatever func(*args) rebuilds.
            guard args.count >= 3, case .tuple(let inner) = args[2] else { throw fail("_rebuild_from_type_v2 with unexpected arguments") }
            guard case .global(let m, let n) = args[1], ["torch.Tensor", "torch.nn.parameter.Parameter"].contains("\(m).\(n)") else {
                throw CheckpointError(.forbiddenGlobal, url, "\(entryName) at byte \(opcodeStart): refusing tensor subclass in _rebuild_from_type_v2")
            }
            guard case .global(let fm, let fn) = args[0], fm == "torch._utils", fn.hasPrefix("_rebuild_") else {
                throw fail("_rebuild_from_type_v2 with an unexpected rebuild function")
            }
            return try call(args[0], inner)
        default:
            throw fail("global '\(module).\(name)' cannot be called here")
        }
    }

    // MARK: Tensors and storages

    private mutating func persistentLoad(_ pid: Item) throws -> Item {
        guard case .tuple(let parts) = pid, parts.count == 5, case .string("storage") = parts[0] else {
            throw fail("persistent id is not ('storage', type, key, location, numel)")
        }
        guard case .global(let module, let name) = parts[1], module == "torch",
              let type = ElementType(torchStorageName: name) ?? ElementType(torchDTypeName: name) else {
            throw fail("persistent id names an unsupported storage type", .unsupported)
        }
        let key: String
        switch parts[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw fail("storage key is not a string")
        }
        guard case .int(let numel) = parts[4], numel >= 0 else { throw fail("storage size is not a non-negative integer") }
        return .storage(try loadStorage(type, key, numel))
    }

    private func intTuple(_ item: Item, _ what: String) throws -> [Int] {
        guard case .tuple(let items) = item else { throw fail("tensor \(what) is not a tuple") }
        return try items.map {
            guard case .int(let v) = $0 else { throw fail("tensor \(what) holds a non-integer") }
            return v
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])`:
    /// a strided view of a storage, copied out as a contiguous tensor.
    private func rebuildTensor(_ args: [Item]) throws -> Tensor {
        guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1] else {
            throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)")
        }
        let shape = try intTuple(args[2], "size")
        let strides = try intTuple(args[3], "stride")
        let where_ = "storage '\(storage.key)'"
        guard shape.count == strides.count else {
            throw fail("tensor on \(where_): size \(describeShape(shape)) and stride \(strides) differ in length")
        }
        guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw fail("tensor on \(where_): negative offset, size or stride (offset \(offset), size \(describeShape(shape)), stride \(strides))")
        }
        guard let bytes = checkedByteCount(shape: shape, itemSize: storage.type.engineType.itemSize),
              bytes <= maximumTensorBytes else {
            throw fail("tensor on \(where_): size \(describeShape(shape)) is implausibly large for this file")
        }
        if bytes > 0 {
            // Last element addressed: offset + sum((size - 1) * stride) must lie in the storage.
            var last = offset
            for (size, stride) in zip(shape, strides) {
                let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw fail("tensor on \(where_): strides overflow") }
                last = sum
            }
            guard last < storage.count else {
                throw fail("tensor on \(where_) (offset \(offset), size \(describeShape(shape)), stride \(strides)) reaches element \(last) but the storage holds \(storage.count) \(storage.type.rawValue) elements")
            }
        }
        return storage.bytes.withUnsafeBytes { raw in
            makeTensor(from: raw, type: storage.type, shape: shape, elementOffset: offset, strides: strides,
                       swapBytes: storageIsBigEndian)
        }
    }

    var storageIsBigEndian = false
}
