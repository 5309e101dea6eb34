/// A `$…$` or `$$…$$` span taken out of Markdown before cmark sees it.
public struct MathSpan: Sendable, Equatable, Hashable {
    public var tex: String
    public var display: Bool
    public init(tex: String, display: Bool) { self.tex = tex; self.display = display }
}

/// Replaces TeX math in Markdown with placeholders (`WBMATH<n>Z`, letters and digits only, which
/// cmark leaves alone), so emphasis and escapes never touch the TeX.
///
/// Rules (close to Pandoc's): `$$…$$` may span lines; `$…$` stays on one line, the opening `$`
/// is followed by a non-space and the closing `$` preceded by a non-space and not followed by a
/// digit (so "costs $5 and $6" is not math). `\$` is a literal dollar. Code spans and code blocks
/// are skipped.
public struct MathExtractor: Sendable {
    public init() {}

    public static func placeholder(_ n: Int) -> String { "WBMATH\(n)Z" }

    /// `codeLines` are 1-based lines inside code blocks (fences included), left untouched.
    public func extract(_ markdown: String, codeLines: Set<Int> = []) -> (markdown: String, spans: [MathSpan]) {
        let s = Array(markdown.unicodeScalars)
        var out = String.UnicodeScalarView()
        var spans: [MathSpan] = []
        var i = 0
        var line = 1
        var atLineStart = true
        func append(_ range: Range<Int>) { out.append(contentsOf: s[range]) }
        while i < s.count {
            let c = s[i]
            if atLineStart && codeLines.contains(line) {
                // Copy the whole line verbatim.
                let start = i
                while i < s.count && s[i] != "\n" { i += 1 }
                if i < s.count { i += 1 }
                append(start..<i)
                line += 1
                continue
            }
            atLineStart = false
            if c == "\n" { line += 1; atLineStart = true; out.append(c); i += 1; continue }
            if c == "\\" && i + 1 < s.count {
                append(i..<(i + 2))
                if s[i + 1] == "\n" { line += 1; atLineStart = true }
                i += 2
                continue
            }
            if c == "`" {
                // A code span: a run of n backticks up to the next run of exactly n.
                var n = 0
                while i + n < s.count && s[i + n] == "`" { n += 1 }
                var j = i + n
                var close: Int?
                while j < s.count {
                    if s[j] == "`" {
                        var m = 0
                        while j + m < s.count && s[j + m] == "`" { m += 1 }
                        if m == n { close = j + m; break }
                        j += m
                    } else {
                        if s[j] == "\n" && j + 1 < s.count && s[j + 1] == "\n" { break }  // paragraph end
                        j += 1
                    }
                }
                let end = close ?? (i + n)
                for k in i..<end where s[k] == "\n" { line += 1 }
                append(i..<end)
                i = end
                continue
            }
            if c == "$" {
                if i + 1 < s.count && s[i + 1] == "$" {
                    // Display math: up to the next `$$`.
                    var j = i + 2
                    while j + 1 < s.count && !(s[j] == "$" && s[j + 1] == "$" && s[j - 1] != "\\") { j += 1 }
                    if j + 1 < s.count {
                        let tex = String(String.UnicodeScalarView(s[(i + 2)..<j])).trimmingWhitespace()
                        if !tex.isEmpty {
                            for k in i..<j where s[k] == "\n" { line += 1 }
                            out.append(contentsOf: MathExtractor.placeholder(spans.count).unicodeScalars)
                            spans.append(MathSpan(tex: tex, display: true))
                            i = j + 2
                            continue
                        }
                    }
                } else if i + 1 < s.count, !s[i + 1].properties.isWhitespace {
                    var j = i + 1
                    var found: Int?
                    // Up to the line end; a backtick (a code span starting) ends the search too.
                    while j < s.count && s[j] != "\n" && s[j] != "`" {
                        if s[j] == "\\" { j += 2; continue }
                        if s[j] == "$" {
                            let before = s[j - 1]
                            let after = j + 1 < s.count ? s[j + 1] : " "
                            if !before.properties.isWhitespace && !("0"..."9").contains(after) { found = j }
                            break
                        }
                        j += 1
                    }
                    if let j = found, j > i + 1 {
                        let tex = String(String.UnicodeScalarView(s[(i + 1)..<j]))
                        out.append(contentsOf: MathExtractor.placeholder(spans.count).unicodeScalars)
                        spans.append(MathSpan(tex: tex, display: false))
                        i = j + 1
                        continue
                    }
                }
            }
            out.append(c)
            i += 1
        }
        return (String(out), spans)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
