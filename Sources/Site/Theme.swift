import Foundation
import Mustache

/// The look of the site, from a folder a course author can edit without touching Swift:
///
///     site/templates/page.mustache      the layout of every page (partials: sidebar, toc, home, cell, output)
///     site/templates/*.mustache          partials, by file name
///     site/assets/                      copied to <out>/assets/ (style.css, search.js, …)
public struct Theme: Sendable {
    public var directory: URL
    public var library: MustacheLibrary

    public static let requiredTemplates = ["page", "cell", "output"]

    public init(directory: URL) throws {
        self.directory = directory
        let templates = directory.appendingPathComponent("templates")
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: templates.path) else {
            throw SiteError("\(templates.path): error: theme folder has no templates/ (expected page.mustache, cell.mustache, output.mustache)")
        }
        var library = MustacheLibrary()
        for name in names.sorted() where name.hasSuffix(".mustache") {
            let url = templates.appendingPathComponent(name)
            let text: String
            do { text = try String(contentsOf: url, encoding: .utf8) } catch {
                throw SiteError("\(url.path): error: cannot read template (\(error.localizedDescription))")
            }
            do {
                try library.register(text, named: String(name.dropLast(".mustache".count)))
            } catch {
                throw SiteError("\(url.path): error: template does not parse: \(error)")
            }
        }
        for required in Self.requiredTemplates where library.getTemplate(named: required) == nil {
            throw SiteError("\(templates.path): error: missing template \(required).mustache")
        }
        self.library = library
    }

    public var assets: URL { directory.appendingPathComponent("assets") }

    /// Renders `template` with `context`; a missing template is a theme error.
    public func render(_ template: String, _ context: [String: Any]) throws -> String {
        guard let text = library.render(context, withTemplate: template) else {
            throw SiteError("\(directory.path)/templates: error: missing template \(template).mustache")
        }
        return text
    }
}
