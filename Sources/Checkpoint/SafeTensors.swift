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
        let json: JSONValue
        do {
            json = try JSONDecoder().decode(JSONValue.self, from: headerData)
        } catch {
            throw fail("header is not valid JSON: \(shortJSONError(error))")
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

        // Validate the byte ranges in data order, like the reference: each range starts where the
        // previous one ended, matches its shape, and together they cover the whole buffer.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
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

/// A parsed JSON value. Decoding is strict about kinds: `1` is never a Bool, `1.5` never an Int.
enum JSONValue: Decodable, CustomStringConvertible {
    case null, bool(Bool), int(Int), double(Double), string(String)
    case array([JSONValue]), object([String: JSONValue])

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        if let container = try? decoder.container(keyedBy: Key.self) {
            var object: [String: JSONValue] = [:]
            for key in container.allKeys { object[key.stringValue] = try container.decode(JSONValue.self, forKey: key) }
            self = .object(object)
        } else if var container = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !container.isAtEnd { items.append(try container.decode(JSONValue.self)) }
            self = .array(items)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { self = .null }
            else if let b = try? single.decode(Bool.self) { self = .bool(b) }
            else if let i = try? single.decode(Int.self) { self = .int(i) }
            else if let d = try? single.decode(Double.self) { self = .double(d) }
            else { self = .string(try single.decode(String.self)) }
        }
    }

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

private func shortJSONError(_ error: Error) -> String {
    if case DecodingError.dataCorrupted(let context) = error {
        if let underlying = context.underlyingError {
            let detail = (underlying as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            return detail ?? "\(underlying)"
        }
        return context.debugDescription
    }
    let nsError = error as NSError
    if let detail = nsError.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
    return nsError.localizedDescription
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
