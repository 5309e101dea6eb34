import Foundation
import Torch

/// Reads and writes the safetensors format (Hugging Face): an 8-byte little-endian header length
/// N, N bytes of JSON describing each tensor's dtype, shape and byte range, then the raw bytes.
///
/// Reading validates like the reference implementation: header size limits, JSON shape, known
/// dtypes, byte ranges that match the shapes and tile the data buffer exactly, without gaps or
/// overlaps. F16, BF16 and F64 load as Float32; I32, I16, I8 and U8 as Int64.
public enum SafeTensors {
    /// Largest header accepted, as in the reference implementation.
    public static let maximumHeaderSize = 100_000_000
    /// Most tensors accepted in one file. Real models hold hundreds to a few thousand; the cap keeps
    /// a hostile header of tiny entries from costing seconds, and is checked while the header is read.
    public static let maximumEntries = 150_000
    /// Deepest JSON nesting accepted in a header (a valid one needs 3: header, entry, shape).
    public static let maximumHeaderDepth = 16

    /// The tensors of a safetensors file, in the order of their data (the order they were written).
    public static func read(_ url: URL) throws -> StateDict {
        try readWithMetadata(url).stateDict
    }

    /// The tensors and the `__metadata__` string map of a safetensors file.
    public static func readWithMetadata(_ url: URL) throws -> (stateDict: StateDict, metadata: [String: String]) {
        try decode(try readFileBytes(url), url)
    }

    /// Parses file contents already in memory; `url` names the file in errors.
    static func decode(_ data: Data, _ url: URL) throws -> (stateDict: StateDict, metadata: [String: String]) {
        let header = try parseHeader(data, url)
        var dict = StateDict()
        data.withUnsafeBytes { raw in
            let buffer = UnsafeRawBufferPointer(rebasing: raw[header.dataStart...])
            for entry in header.entries {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[entry.begin..<entry.end])
                dict[entry.name] = makeTensor(from: bytes, type: entry.type, shape: entry.shape)
            }
        }
        return (dict, header.metadata)
    }

    /// Only the `__metadata__` map (reads the header, not the tensor data).
    public static func readMetadata(_ url: URL) throws -> [String: String] {
        try parseHeader(try readFileBytes(url), url).metadata
    }

    /// Writes `dict` in its key order (Float32 as F32, Int64 as I64, Bool as BOOL), atomically.
    public static func write(_ dict: StateDict, to url: URL, metadata: [String: String] = [:]) throws {
        var header = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in dict {
            if name == "__metadata__" {
                throw CheckpointError(.invalidArgument, url, "a tensor cannot be named '__metadata__' in a safetensors file")
            }
            let type = ElementType(storing: tensor.dtype)
            let size = tensor.count * type.itemSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(type.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        header += fields.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        // Pad with spaces so the data buffer starts 8-byte aligned, as the reference writer does.
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        if headerBytes.count > maximumHeaderSize {
            throw CheckpointError(.invalidArgument, url, "header of \(headerBytes.count) bytes exceeds the safetensors limit of \(maximumHeaderSize)")
        }
        try writeAtomically(to: url) { out in
            var length = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &length) { try out.write($0) }
            try out.write(headerBytes)
            for (_, tensor) in dict {
                try withLittleEndianBytes(of: tensor) { try out.write($0) }
            }
        }
    }

    // MARK: Header parsing

    struct Entry {
        var name: String
        var type: ElementType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    struct Header {
        var entries: [Entry]
        var metadata: [String: String]
        var dataStart: Int
    }

    static func parseHeader(_ data: Data, _ url: URL) throws -> Header {
        func fail(_ kind: CheckpointError.Kind, _ message: String) -> CheckpointError {
            CheckpointError(kind, url, message)
        }
        func fail(_ message: String) -> CheckpointError { fail(.malformed, message) }
        guard data.count >= 8 else {
            throw fail(.truncated, "file is \(data.count) bytes, too short for the 8-byte safetensors header length")
        }
        let length = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(maximumHeaderSize) else {
            throw fail("header length \(length) exceeds the limit of \(maximumHeaderSize) bytes (not a safetensors file?)")
        }
        let headerLength = Int(length)
        guard 8 + headerLength <= data.count else {
            throw fail(.truncated, "header length \(headerLength) runs past the end of the file (\(data.count) bytes)")
        }
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + headerLength)
        guard headerData.first == UInt8(ascii: "{") else {
            throw fail("header does not start with '{' (not a safetensors file?)")
        }
        guard String(data: headerData, encoding: .utf8) != nil else {
            throw fail("header is not valid UTF-8")
        }
        let members = JSONParser.countTopLevelMembers(headerData)
        if members > maximumEntries + 1 {
            throw fail(.unsupported, "header lists \(members) entries, more than the limit SafeTensors.maximumEntries = \(maximumEntries) tensors (plus __metadata__)")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerData, maxDepth: maximumHeaderDepth, maxTopLevelMembers: maximumEntries + 1)
        } catch let error as JSONParser.Failure {
            switch error.kind {
            case .syntax: throw fail("header is not valid JSON: \(error.message)")
            case .depth: throw fail("header is not valid JSON for safetensors: it exceeds the limit SafeTensors.maximumHeaderDepth = \(maximumHeaderDepth): \(error.message)")
            case .members:
                throw fail(.unsupported, "header lists more than \(maximumEntries) tensors, the limit SafeTensors.maximumEntries (\(error.message))")
            }
        }
        guard case .object(let object) = json else {
            throw fail("header JSON is not an object")
        }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard case .object(let map) = value else {
                    throw fail("__metadata__ is not an object of strings")
                }
                for (key, item) in map {
                    guard case .string(let text) = item else {
                        throw fail("__metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard case .object(let info) = value else {
                throw fail("tensor '\(name)': entry is not an object")
            }
            guard case .string(let dtypeName)? = info["dtype"] else {
                throw fail("tensor '\(name)': missing or non-string \"dtype\"")
            }
            guard let type = ElementType(rawValue: dtypeName) else {
                throw fail(.unsupported, "tensor '\(name)': unknown or unsupported dtype \"\(dtypeName)\" (supported: \(ElementType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard case .array(let shapeItems)? = info["shape"] else {
                throw fail("tensor '\(name)': missing or non-array \"shape\"")
            }
            var shape: [Int] = []
            for item in shapeItems {
                guard case .int(let d) = item, d >= 0 else {
                    throw fail("tensor '\(name)': shape \(shapeItems.map(\.description)) must hold non-negative integers")
                }
                shape.append(d)
            }
            guard case .array(let offsets)? = info["data_offsets"], offsets.count == 2,
                  case .int(let begin) = offsets[0], case .int(let end) = offsets[1], begin >= 0, end >= 0 else {
                throw fail("tensor '\(name)': \"data_offsets\" must be two non-negative integers [begin, end]")
            }
            entries.append(Entry(name: name, type: type, shape: shape, begin: begin, end: end))
        }

        if entries.count > maximumEntries {
            throw fail(.unsupported, "header lists \(entries.count) tensors, more than the limit SafeTensors.maximumEntries = \(maximumEntries)")
        }
        // Validate the byte ranges in data order, like the reference: each range starts where the
        // previous one ended, matches its shape, and together they cover the whole buffer.
        // Names only break ties (zero-length tensors share an offset); comparing them always would
        // copy every name through a tuple.
        entries.sort { a, b in
            a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name
        }
        let dataStart = 8 + headerLength
        let bufferSize = data.count - dataStart
        var cursor = 0
        for entry in entries {
            let range = "data_offsets [\(entry.begin), \(entry.end)]"
            guard let expected = checkedByteCount(shape: entry.shape, itemSize: entry.type.itemSize) else {
                throw fail("tensor '\(entry.name)' shape \(describeShape(entry.shape)) is too large")
            }
            if entry.end < entry.begin {
                throw fail("tensor '\(entry.name)' \(range) end before begin")
            }
            if entry.begin < cursor {
                throw fail("tensor '\(entry.name)' \(range) overlap the previous tensor, which ends at \(cursor)")
            }
            if entry.begin > cursor {
                throw fail("tensor '\(entry.name)' \(range) leave a gap of \(entry.begin - cursor) bytes after offset \(cursor)")
            }
            if entry.end - entry.begin != expected {
                throw fail("tensor '\(entry.name)' \(range) do not match shape \(describeShape(entry.shape)) x \(entry.type.rawValue) = \(expected) bytes")
            }
            if entry.end > bufferSize {
                throw fail(.truncated, "tensor '\(entry.name)' \(range) run past the end of the data buffer (\(bufferSize) bytes; file truncated?)")
            }
            cursor = entry.end
        }
        if cursor != bufferSize {
            throw fail("the tensors cover \(cursor) bytes but the data buffer holds \(bufferSize) (trailing bytes)")
        }
        return Header(entries: entries, metadata: metadata, dataStart: dataStart)
    }
}

/// A parsed JSON value. Parsing is strict about kinds: `1` is never a Bool, `1.5` never an Int.
enum JSONValue: CustomStringConvertible {
    case null, bool(Bool), int(Int), double(Double), string(String)
    case array([JSONValue]), object([String: JSONValue])

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return jsonString(s)
        case .array(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .object: return "{...}"
        }
    }
}

/// A single-pass JSON parser over bytes: linear in the input, with a nesting limit so that no
/// input can exhaust the stack, and a limit on the members of the outermost object checked as
/// they are read. Errors give the byte offset.
struct JSONParser {
    struct Failure: Error {
        enum Kind { case syntax, depth, members }
        var message: String
        var kind = Kind.syntax
    }

    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    let maxTopLevelMembers: Int
    var position = 0

    static func parse(_ data: Data, maxDepth: Int, maxTopLevelMembers: Int) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: raw, maxDepth: maxDepth, maxTopLevelMembers: maxTopLevelMembers)
            parser.skipSpace()
            let value = try parser.value(depth: 1)
            parser.skipSpace()
            if parser.position != raw.count { throw parser.failure("unexpected text after the JSON value") }
            return value
        }
    }

    func failure(_ message: String) -> Failure { Failure(message: "\(message) at byte \(position)") }

    mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// The members of the outermost object, counted by one scan that builds nothing (commas outside
    /// strings at depth 1), so an oversized header is refused before any entry is parsed. Only an
    /// upper bound for malformed text, which the full parse then rejects.
    static func countTopLevelMembers(_ data: Data) -> Int {
        data.withUnsafeBytes { raw in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return 0 }
            var depth = 0, commas = 0, nonEmpty = false
            var inString = false, escaped = false
            var p = base
            let end = base + raw.count
            while p < end {
                let byte = p.pointee
                p += 1
                if inString {
                    if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                    continue
                }
                switch byte {
                case 0x22: inString = true; if depth == 1 { nonEmpty = true }
                case 0x7B, 0x5B: depth += 1
                case 0x7D, 0x5D: depth -= 1
                case 0x2C: if depth == 1 { commas += 1 }
                default: break
                }
            }
            return nonEmpty ? commas + 1 : 0
        }
    }

    mutating func expect(_ byte: UInt8) throws {
        guard position < bytes.count, bytes[position] == byte else {
            throw failure("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        position += 1
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws -> JSONValue {
        for byte in word.utf8 { try expect(byte) }
        return value
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else {
            throw Failure(message: "nesting deeper than the limit of \(maxDepth) levels at byte \(position)", kind: .depth)
        }
        guard position < bytes.count else { throw failure("unexpected end of the JSON text") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var object: [String: JSONValue] = [:]
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(object) }
            while true {
                skipSpace()
                let keyAt = position
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
                let key = try string()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                let item = try value(depth: depth + 1)
                if object.updateValue(item, forKey: key) != nil {
                    throw Failure(message: "duplicate key \(jsonString(key)) at byte \(keyAt)")
                }
                if depth == 1 && object.count > maxTopLevelMembers {
                    throw Failure(message: "more than \(maxTopLevelMembers) entries at byte \(keyAt)", kind: .members)
                }
                skipSpace()
                guard position < bytes.count else { throw failure("unexpected end inside an object") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: "}"))
                return .object(object)
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw failure("unexpected end inside an array") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try number()
        }
    }

    mutating func number() throws -> JSONValue {
        let start = position
        func digits() -> Int {
            let from = position
            while position < bytes.count, (0x30...0x39).contains(bytes[position]) { position += 1 }
            return position - from
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        guard digits() > 0 else { position = start; throw failure("unexpected character") }
        if position - integerStart > 1 && bytes[integerStart] == UInt8(ascii: "0") {
            throw failure("a number cannot have a leading zero")
        }
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1; isInteger = false
            guard digits() > 0 else { throw failure("expected digits after '.'") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1; isInteger = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw failure("expected digits in the exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw Failure(message: "number \(text) out of range at byte \(start)") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("expected four hex digits after \\u") }
        var v: UInt32 = 0
        for byte in bytes[position..<position + 4] {
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw failure("expected four hex digits after \\u")
            }
            v = v << 4 | UInt32(digit)
        }
        position += 4
        return v
    }

    mutating func string() throws -> String {
        position += 1  // the opening quote
        var out: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                position += 1
                return String(decoding: out, as: UTF8.self)
            }
            if byte < 0x20 { throw failure("control character in a string") }
            if byte != UInt8(ascii: "\\") { position += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
            position += 1
            guard position < bytes.count else { throw failure("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), position + 1 < bytes.count,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default:
                position -= 1
                throw failure("invalid escape")
            }
            runStart = position
        }
    }
}

/// A JSON string literal with the escapes JSON requires.
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
