import Foundation
import Torch

/// Element types found in checkpoint files, and how each becomes an engine tensor: floating types
/// load as Float32, integer types as Int64, BOOL as Bool.
enum ElementType: String, CaseIterable, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8"
    case bool = "BOOL"

    var itemSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// The engine dtype a tensor of this element type loads as.
    var engineType: DType {
        switch self {
        case .f32, .f16, .bf16, .f64: return .float32
        case .i64, .i32, .i16, .i8, .u8: return .int64
        case .bool: return .bool
        }
    }

    /// The name PyTorch's pickles use for a storage class of this element type.
    var torchStorageName: String {
        switch self {
        case .f32: return "FloatStorage"
        case .f16: return "HalfStorage"
        case .bf16: return "BFloat16Storage"
        case .f64: return "DoubleStorage"
        case .i64: return "LongStorage"
        case .i32: return "IntStorage"
        case .i16: return "ShortStorage"
        case .i8: return "CharStorage"
        case .u8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    init?(torchStorageName name: String) {
        guard let match = ElementType.allCases.first(where: { $0.torchStorageName == name }) else { return nil }
        self = match
    }

    /// `torch.float32`-style dtype names, which newer pickles may carry instead of storage classes.
    init?(torchDTypeName name: String) {
        switch name {
        case "float32", "float": self = .f32
        case "float16", "half": self = .f16
        case "bfloat16": self = .bf16
        case "float64", "double": self = .f64
        case "int64", "long": self = .i64
        case "int32", "int": self = .i32
        case "int16", "short": self = .i16
        case "int8": self = .i8
        case "uint8": self = .u8
        case "bool": self = .bool
        default: return nil
        }
    }

    /// The file element type used to store an engine tensor losslessly.
    init(storing dtype: DType) {
        switch dtype {
        case .float32: self = .f32
        case .int64: self = .i64
        case .bool: self = .bool
        }
    }
}

/// IEEE 754 half precision bits to Float (exact: every half is a float).
@inline(__always)
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x03FF)
    if exponent == 0x1F {  // infinity or NaN: keep the payload
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {  // zero or subnormal: mantissa * 2^-24
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// bfloat16 bits are the upper half of a Float's bits.
@inline(__always)
func floatFromBFloat16Bits(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// Converts `count` elements laid out at `elementOffset + sum(index[d] * strides[d])` in `raw`
/// into a contiguous engine tensor of `shape`. The caller has checked that every addressed
/// element lies inside `raw`. `swapBytes` handles big-endian files.
func makeTensor(from raw: UnsafeRawBufferPointer, type: ElementType, shape: [Int],
                elementOffset: Int = 0, strides: [Int]? = nil, swapBytes: Bool = false) -> Tensor {
    let count = shape.reduce(1, *)
    let contiguous = Shape.strides(shape)
    let strides = strides ?? contiguous
    let isContiguous = count <= 1 || zip(shape, zip(strides, contiguous)).allSatisfy { $0.0 == 1 || $0.1.0 == $0.1.1 }
    let size = type.itemSize

    // Byte offset of each output element, in row-major output order.
    func forEachElement(_ body: (Int, Int) -> Void) {
        if isContiguous {
            var byte = elementOffset * size
            for i in 0..<count { body(i, byte); byte += size }
            return
        }
        var index = [Int](repeating: 0, count: shape.count)
        var element = elementOffset
        for i in 0..<count {
            body(i, element * size)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                element += strides[d]
                if index[d] < shape[d] { break }
                element -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    @inline(__always) func u16(_ at: Int) -> UInt16 {
        let v = raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)
        return swapBytes ? v.byteSwapped : UInt16(littleEndian: v)
    }
    @inline(__always) func u32(_ at: Int) -> UInt32 {
        let v = raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapBytes ? v.byteSwapped : UInt32(littleEndian: v)
    }
    @inline(__always) func u64(_ at: Int) -> UInt64 {
        let v = raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)
        return swapBytes ? v.byteSwapped : UInt64(littleEndian: v)
    }

    switch type.engineType {
    case .float32:
        return Tensor.make(shape: shape) { out in
            switch type {
            case .f32:
                if isContiguous && !swapBytes && count > 0, let base = out.baseAddress {
                    UnsafeMutableRawPointer(base).copyMemory(from: raw.baseAddress! + elementOffset * 4, byteCount: count * 4)
                } else {
                    forEachElement { i, at in out[i] = Float(bitPattern: u32(at)) }
                }
            case .f16: forEachElement { i, at in out[i] = floatFromHalfBits(u16(at)) }
            case .bf16: forEachElement { i, at in out[i] = floatFromBFloat16Bits(u16(at)) }
            case .f64: forEachElement { i, at in out[i] = Float(Double(bitPattern: u64(at))) }
            default: fatalError("unreachable: \(type) is not a floating type")
            }
        }
    case .int64:
        return Tensor.makeInt64(shape: shape) { out in
            switch type {
            case .i64: forEachElement { i, at in out[i] = Int64(bitPattern: u64(at)) }
            case .i32: forEachElement { i, at in out[i] = Int64(Int32(bitPattern: u32(at))) }
            case .i16: forEachElement { i, at in out[i] = Int64(Int16(bitPattern: u16(at))) }
            case .i8: forEachElement { i, at in out[i] = Int64(Int8(bitPattern: raw[at])) }
            case .u8: forEachElement { i, at in out[i] = Int64(raw[at]) }
            default: fatalError("unreachable: \(type) is not an integer type")
            }
        }
    case .bool:
        return Tensor.makeBool(shape: shape) { out in
            forEachElement { i, at in out[i] = raw[at] != 0 ? 1 : 0 }
        }
    }
}

/// Calls `body` with the raw little-endian bytes of `tensor` as stored in a file of the element
/// type `ElementType(storing: tensor.dtype)`.
func withLittleEndianBytes<R>(of tensor: Tensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    switch tensor.dtype {
    case .float32:
        #if _endian(little)
        return try tensor.withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
        #else
        let swapped = tensor.scalars.map { $0.bitPattern.littleEndian }
        return try swapped.withUnsafeBytes(body)
        #endif
    case .int64:
        #if _endian(little)
        return try tensor.withUnsafeInt64BufferPointer { try body(UnsafeRawBufferPointer($0)) }
        #else
        let swapped = tensor.int64Scalars.map { $0.littleEndian }
        return try swapped.withUnsafeBytes(body)
        #endif
    case .bool:
        let bytes = tensor.withUnsafeBufferPointer { $0.map { $0 != 0 ? UInt8(1) : 0 } }
        return try bytes.withUnsafeBytes(body)
    }
}

/// Product of `shape` and `itemSize`, or nil on overflow or a negative size: file contents decide
/// shapes, so arithmetic must never trap.
func checkedByteCount(shape: [Int], itemSize: Int) -> Int? {
    var n = itemSize
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = p
    }
    return n
}

func describeShape(_ shape: [Int]) -> String { describe(shape: shape) }
