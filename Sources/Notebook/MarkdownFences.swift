import CCmark

/// A code block found by cmark, with its position in the file.
public struct FencedCode: Sendable, Equatable {
    /// The info string after the opening fence (empty for indented code blocks).
    public var info: String
    /// The code, as cmark reports it (fence indentation removed).
    public var code: String
    /// 1-based lines of the opening and closing fence (or first/last line when indented).
    public var startLine: Int
    public var endLine: Int
    /// The first word of the info string, lowercased (`swift`, `sh`, ...).
    public var language: String {
        info.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map { $0.lowercased() } ?? ""
    }
}

/// Finds code blocks with cmark (CommonMark's own rules for fences, lists and quotes).
public enum MarkdownFences {
    /// Line endings may be LF, CRLF or CR and a byte order mark may lead (`MarkdownText.normalized`):
    /// the code comes back with "\n" endings and lines counted as editors count them.
    public static func codeBlocks(in markdown: String) -> [FencedCode] {
        var blocks: [FencedCode] = []
        let utf8 = Array(MarkdownText.normalized(markdown).utf8)
        guard let root = utf8.withUnsafeBufferPointer({ buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                cmark_parse_document($0, buffer.count, CMARK_OPT_DEFAULT)
            }
        }) else { return [] }
        defer { cmark_node_free(root) }
        guard let iter = cmark_iter_new(root) else { return [] }
        defer { cmark_iter_free(iter) }
        while true {
            let event = cmark_iter_next(iter)
            if event == CMARK_EVENT_DONE { break }
            guard event == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iter),
                  cmark_node_get_type(node) == CMARK_NODE_CODE_BLOCK else { continue }
            let info = cmark_node_get_fence_info(node).map { String(cString: $0) } ?? ""
            let code = cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
            blocks.append(FencedCode(info: info, code: code,
                                     startLine: Int(cmark_node_get_start_line(node)),
                                     endLine: Int(cmark_node_get_end_line(node))))
        }
        return blocks
    }
}
