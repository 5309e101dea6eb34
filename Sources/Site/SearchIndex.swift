import Foundation

/// The client-side search index: every page's title, URL and sections (heading, anchor, text).
/// Written as `assets/search-index.js`, which sets a global, because browsers refuse fetch() of a
/// local JSON file when the site is opened from file://. search.js loads it on first use.
public struct SearchIndex: Codable, Sendable {
    public struct Page: Codable, Sendable {
        /// Title.
        public var t: String
        /// URL relative to the site root.
        public var u: String
        public var s: [SearchSection]
    }

    public var pages: [Page] = []
    public init() {}

    public mutating func add(title: String, url: String, sections: [SearchSection]) {
        pages.append(Page(t: title, u: url, s: sections))
    }

    public static let globalName = "WORKBOOK_SEARCH_INDEX"

    public func javascript() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // byte-identical rebuilds
        var json = String(decoding: try encoder.encode(self), as: UTF8.self)
        // Keep the file a valid script whatever the text holds.
        json = json.replacingOccurrences(of: "\u{2028}", with: "\\u2028").replacingOccurrences(of: "\u{2029}", with: "\\u2029")
            .replacingOccurrences(of: "</", with: "<\\/")
        return "window.\(Self.globalName) = \(json);\n"
    }
}
