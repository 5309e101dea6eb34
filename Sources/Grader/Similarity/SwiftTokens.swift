import Foundation

/// A Swift token normalised for similarity: what two programs share once names, literal values,
/// comments and layout are set aside.
///
/// Hand-written rather than swift-syntax (which the package mirror has): similarity needs only
/// token classes, must accept any half-written student code, and swift-syntax would add minutes to
/// every clean CI build for that.
public struct SimilarityToken: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case identifier, integer, float, string, keyword, symbol }
    public var kind: Kind
    /// The normalised text: `ID`, `INT`, `FLOAT`, `STR`, or the keyword or operator itself.
    public var text: String
    /// 0-based line of the token's first character in the tokenised source.
    public var line: Int
}

public enum SwiftTokens {
    /// Keywords kept as themselves: they carry a program's structure. Everything else that looks
    /// like a name becomes `ID`.
    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "as", "Any", "false", "is", "nil", "self", "Self", "super",
        "throws", "true", "try", "await", "async", "some", "any", "lazy", "mutating", "nonmutating",
        "override", "weak", "unowned", "final", "convenience", "required", "indirect", "consume", "borrowing",
        "consuming", "_",
    ]

    static let operatorCharacters: Set<Character> = ["/", "=", "-", "+", "!", "*", "%", "<", ">", "&", "|", "^", "~", "?", "."]

    /// The tokens of `source`, comments and whitespace dropped. Never fails: an unterminated string
    /// or comment runs to the end, an unknown character is a symbol of its own.
    public static func tokenize(_ source: String) -> [SimilarityToken] {
        let chars = Array(source)
        var tokens: [SimilarityToken] = []
        var i = 0, line = 0
        func peek(_ offset: Int) -> Character? { i + offset < chars.count ? chars[i + offset] : nil }
        func add(_ kind: SimilarityToken.Kind, _ text: String, _ at: Int) { tokens.append(SimilarityToken(kind: kind, text: text, line: at)) }
        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1; i += 1; continue }
            if c.isWhitespace { i += 1; continue }
            // Comments: `//` to the end of the line, `/* */` nested.
            if c == "/" && peek(1) == "/" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/" && peek(1) == "*" {
                var depth = 0
                while i < chars.count {
                    if chars[i] == "/" && peek(1) == "*" { depth += 1; i += 2; continue }
                    if chars[i] == "*" && peek(1) == "/" { depth -= 1; i += 2; if depth == 0 { break }; continue }
                    if chars[i] == "\n" { line += 1 }
                    i += 1
                }
                continue
            }
            // Strings: `"…"`, `"""…"""` and raw `#"…"#`; one token whatever their contents.
            if c == "\"" || (c == "#" && (peek(1) == "\"" || (peek(1) == "#" && peek(2) == "\""))) {
                let start = line
                var hashes = 0
                while i < chars.count && chars[i] == "#" { hashes += 1; i += 1 }
                let multiline = peek(0) == "\"" && peek(1) == "\"" && peek(2) == "\""
                i += multiline ? 3 : 1
                while i < chars.count {
                    let d = chars[i]
                    if d == "\n" {
                        line += 1
                        if !multiline { i += 1; break }  // an unterminated single-line string ends at its line
                    }
                    if d == "\\" && hashes == 0 { i += 2; continue }
                    let closes = multiline ? (d == "\"" && peek(1) == "\"" && peek(2) == "\"") : d == "\""
                    if closes {
                        var j = i + (multiline ? 3 : 1), n = 0
                        while n < hashes && j < chars.count && chars[j] == "#" { n += 1; j += 1 }
                        if n == hashes { i = j; break }
                    }
                    i += 1
                }
                add(.string, "STR", start)
                continue
            }
            // Numbers: decimal, hex, octal, binary, with `_` separators, fractions and exponents.
            if c.isASCII && c.isNumber {
                var isFloat = false
                if c == "0", let p = peek(1), p == "x" || p == "o" || p == "b" {
                    i += 2
                    while let d = peek(0), d.isHexDigit || d == "_" { i += 1 }
                } else {
                    while let d = peek(0), (d.isASCII && d.isNumber) || d == "_" { i += 1 }
                    if peek(0) == ".", let d = peek(1), d.isASCII && d.isNumber {
                        isFloat = true
                        i += 1
                        while let d = peek(0), (d.isASCII && d.isNumber) || d == "_" { i += 1 }
                    }
                    if let e = peek(0), e == "e" || e == "E" {
                        var j = i + 1
                        if j < chars.count && (chars[j] == "+" || chars[j] == "-") { j += 1 }
                        if j < chars.count && chars[j].isASCII && chars[j].isNumber {
                            isFloat = true
                            i = j
                            while let d = peek(0), d.isASCII && d.isNumber { i += 1 }
                        }
                    }
                }
                add(isFloat ? .float : .integer, isFloat ? "FLOAT" : "INT", line)
                continue
            }
            // Names: identifiers, `$0`, backquoted names, `#if`-style directives (kept as keywords).
            if c == "_" || c.isLetter || c == "$" || c == "`" || (c == "#" && (peek(1)?.isLetter ?? false)) {
                var j = i + 1
                if c == "`" {
                    while j < chars.count && chars[j] != "`" && chars[j] != "\n" { j += 1 }
                    if j < chars.count && chars[j] == "`" { j += 1 }
                    add(.identifier, "ID", line)
                } else {
                    while j < chars.count && (chars[j] == "_" || chars[j].isLetter || chars[j].isNumber) { j += 1 }
                    let word = String(chars[i..<j])
                    if c == "#" { add(.keyword, word, line) }
                    else if keywords.contains(word) { add(.keyword, word, line) }
                    else { add(.identifier, "ID", line) }
                }
                i = j
                continue
            }
            // Operators: a run of operator characters (a lone `.` is member access), stopping before a comment.
            if operatorCharacters.contains(c) {
                if c == "." && peek(1) != "." { add(.symbol, ".", line); i += 1; continue }
                var j = i
                while j < chars.count && operatorCharacters.contains(chars[j]) {
                    if chars[j] == "/" && j + 1 < chars.count && (chars[j + 1] == "/" || chars[j + 1] == "*") && j > i { break }
                    j += 1
                }
                add(.symbol, String(chars[i..<j]), line)
                i = j
                continue
            }
            add(.symbol, String(c), line)
            i += 1
        }
        return tokens
    }
}
