/// Build-time Swift syntax highlighting with a small lexer, so pages read well without
/// JavaScript (swift-syntax would add minutes to every CI build).
///
/// Emits escaped HTML with `<span class="…">` around tokens:
/// `k` keyword, `t` type (capitalised identifier), `s` string, `e` escape inside a string,
/// `i` interpolation delimiters, `n` number, `c` comment, `a` attribute (`@MainActor`),
/// `d` compiler directive (`#if`, `#sourceLocation`). Everything else is escaped plain text.
public struct SwiftHighlighter: Sendable {
    public init() {}

    public static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self",
        "super", "throws", "true", "try", "async", "actor", "some", "any", "final", "lazy", "mutating",
        "nonmutating", "override", "required", "convenience", "weak", "unowned", "indirect", "nonisolated",
        "consume", "borrowing", "consuming", "isolated", "macro", "package",
    ]

    /// Highlights `code` (a whole cell) and returns HTML for the inside of a `<pre><code>`.
    public func highlight(_ code: String) -> String {
        var lexer = Lexer(Array(code.unicodeScalars))
        lexer.code(untilCloseParen: false)
        return lexer.out
    }

    struct Lexer {
        let s: [Unicode.Scalar]
        var i = 0
        var out = ""

        init(_ s: [Unicode.Scalar]) {
            self.s = s
            out.reserveCapacity(s.count * 2)
        }

        func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

        mutating func emit(_ cls: String?, _ range: Range<Int>) {
            guard !range.isEmpty else { return }
            var text = String.UnicodeScalarView()
            text.append(contentsOf: s[range])
            if let cls { out += "<span class=\"\(cls)\">" + HTML.escapeText(String(text)) + "</span>" } else { out += HTML.escapeText(String(text)) }
        }

        static func isIdentStart(_ c: Unicode.Scalar) -> Bool {
            c == "_" || c.properties.isAlphabetic
        }
        static func isIdentPart(_ c: Unicode.Scalar) -> Bool {
            isIdentStart(c) || ("0"..."9").contains(c) || c.properties.generalCategory == .nonspacingMark
        }
        static func isDigit(_ c: Unicode.Scalar?) -> Bool { c.map { ("0"..."9").contains($0) } ?? false }

        /// Lexes code; inside an interpolation, stops before the `)` that closes it.
        mutating func code(untilCloseParen: Bool) {
            var depth = 0
            var plainStart = i
            func flushPlain(_ lexer: inout Lexer) { lexer.emit(nil, plainStart..<lexer.i) }
            while i < s.count {
                let c = s[i]
                if c == "(" { depth += 1; i += 1; continue }
                if c == ")" {
                    if untilCloseParen && depth == 0 { break }
                    depth -= 1; i += 1; continue
                }
                let start = i
                if c == "/" && peek(1) == "/" {
                    flushPlain(&self)
                    while i < s.count && s[i] != "\n" { i += 1 }
                    emit("c", start..<i)
                } else if c == "/" && peek(1) == "*" {
                    flushPlain(&self)
                    blockComment()
                    emit("c", start..<i)
                } else if c == "\"" || (c == "#" && rawStringHashes() != nil) {
                    flushPlain(&self)
                    string()
                } else if c == "@" && peek(1).map(Self.isIdentStart) == true {
                    flushPlain(&self)
                    i += 1
                    while i < s.count && Self.isIdentPart(s[i]) { i += 1 }
                    emit("a", start..<i)
                } else if c == "#" && peek(1).map(Self.isIdentStart) == true {
                    flushPlain(&self)
                    i += 1
                    while i < s.count && Self.isIdentPart(s[i]) { i += 1 }
                    emit("d", start..<i)
                } else if c == "`" {
                    // `class` used as a name: plain text.
                    i += 1
                    while i < s.count && s[i] != "`" && s[i] != "\n" { i += 1 }
                    if i < s.count && s[i] == "`" { i += 1 }
                    continue
                } else if Self.isDigit(c) {
                    // Digits inside a name (x2) are handled by the identifier branch.
                    flushPlain(&self)
                    number()
                    emit("n", start..<i)
                } else if c == "$" || Self.isIdentStart(c) {
                    flushPlain(&self)
                    i += 1
                    while i < s.count && Self.isIdentPart(s[i]) { i += 1 }
                    var word = String.UnicodeScalarView()
                    word.append(contentsOf: s[start..<i])
                    let text = String(word)
                    // `.init`, `x.self`: member names after a dot are not keywords, except self/init.
                    let afterDot = start > 0 && s[start - 1] == "."
                    if Self.isKeyword(text, afterDot: afterDot) {
                        emit("k", start..<i)
                    } else if c.properties.isUppercase {
                        emit("t", start..<i)
                    } else {
                        emit(nil, start..<i)
                    }
                } else {
                    i += 1
                    continue
                }
                plainStart = i
            }
            flushPlain(&self)
        }

        static func isKeyword(_ word: String, afterDot: Bool) -> Bool {
            guard keywords.contains(word) else { return false }
            return !afterDot || word == "self" || word == "init" || word == "Type"
        }

        /// Nested `/* /* */ */` comments.
        mutating func blockComment() {
            var depth = 0
            while i < s.count {
                if s[i] == "/" && peek(1) == "*" { depth += 1; i += 2; continue }
                if s[i] == "*" && peek(1) == "/" {
                    depth -= 1; i += 2
                    if depth == 0 { return }
                    continue
                }
                i += 1
            }
        }

        /// The number of `#` before a `"` at the current position, if a raw string starts here.
        func rawStringHashes() -> Int? {
            var k = 0
            while i + k < s.count && s[i + k] == "#" { k += 1 }
            return i + k < s.count && s[i + k] == "\"" ? k : nil
        }

        mutating func number() {
            if s[i] == "0", let p = peek(1), p == "x" || p == "b" || p == "o" {
                i += 2
                while i < s.count && (s[i].properties.isASCIIHexDigit || s[i] == "_") { i += 1 }
                // Hex floats: 0x1p-3.
                if i < s.count && (s[i] == "p" || s[i] == "P") { exponent() }
                return
            }
            while i < s.count && (Self.isDigit(s[i]) || s[i] == "_") { i += 1 }
            if i < s.count && s[i] == "." && Self.isDigit(peek(1)) {
                i += 1
                while i < s.count && (Self.isDigit(s[i]) || s[i] == "_") { i += 1 }
            }
            if i < s.count && (s[i] == "e" || s[i] == "E") { exponent() }
        }

        mutating func exponent() {
            var j = i + 1
            if j < s.count && (s[j] == "+" || s[j] == "-") { j += 1 }
            guard j < s.count && Self.isDigit(s[j]) else { return }
            i = j
            while i < s.count && (Self.isDigit(s[i]) || s[i] == "_") { i += 1 }
        }

        /// A string literal starting at `i`: `"…"`, `"""…"""`, raw `#"…"#`, with escapes and
        /// `\(…)` interpolations (lexed as code).
        mutating func string() {
            let hashes = rawStringHashes() ?? 0
            var segment = i
            i += hashes
            let multiline = peek(0) == "\"" && peek(1) == "\"" && peek(2) == "\""
            i += multiline ? 3 : 1
            func atClose(_ lexer: Lexer) -> Bool {
                var j = lexer.i
                for _ in 0..<(multiline ? 3 : 1) {
                    guard j < lexer.s.count && lexer.s[j] == "\"" else { return false }
                    j += 1
                }
                for _ in 0..<hashes {
                    guard j < lexer.s.count && lexer.s[j] == "#" else { return false }
                    j += 1
                }
                return true
            }
            while i < s.count {
                if !multiline && s[i] == "\n" { break }  // unterminated: stop at the line end
                if atClose(self) {
                    i += (multiline ? 3 : 1) + hashes
                    emit("s", segment..<i)
                    return
                }
                if s[i] == "\\" {
                    // In a raw string, only `\#` (with as many hashes) escapes.
                    var j = i + 1
                    var k = 0
                    while k < hashes && j < s.count && s[j] == "#" { j += 1; k += 1 }
                    guard k == hashes, j < s.count else { i += 1; continue }
                    emit("s", segment..<i)
                    if s[j] == "(" {
                        emit("i", i..<(j + 1))
                        i = j + 1
                        code(untilCloseParen: true)
                        if i < s.count { emit("i", i..<(i + 1)); i += 1 }
                    } else {
                        let escStart = i
                        i = j + 1
                        if s[j] == "u" && i < s.count && s[i] == "{" {
                            while i < s.count && s[i] != "}" && s[i] != "\n" { i += 1 }
                            if i < s.count && s[i] == "}" { i += 1 }
                        }
                        emit("e", escStart..<i)
                    }
                    segment = i
                    continue
                }
                i += 1
            }
            emit("s", segment..<i)
        }
    }
}
