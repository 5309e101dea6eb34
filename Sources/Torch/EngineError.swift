import Foundation

/// Stops the program with a message naming the operation, what was wrong (shapes, dtypes) and the
/// caller's source location. Engine misuse is a programming error, as in PyTorch, so it traps;
/// the lesson runner attributes the trap to the cell (and Markdown line) that caused it.
public func engineFailure(_ op: String, _ message: String,
                          file: StaticString, line: UInt) -> Never {
    let text = "\(op): \(message)"
    FileHandle.standardError.write(Data("error: \(file):\(line): \(text)\n".utf8))
    fatalError(text, file: file, line: line)
}

/// Formats a shape the way PyTorch prints it: `[2, 3, 4]`.
@inlinable
public func describe(shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

@inline(__always)
func check(_ condition: @autoclosure () -> Bool, _ op: String,
           _ message: @autoclosure () -> String, file: StaticString, line: UInt) {
    if !condition() { engineFailure(op, message(), file: file, line: line) }
}
