import Foundation
import Notebook

/// Cell outputs rendered to HTML fragments with the theme's own `output` template, for pages that
/// receive outputs after they were built (`workbook serve`'s notebook streams a run into the page):
/// a live output looks exactly like the same output in the static site.
public struct OutputFragments: Sendable {
    public var theme: Theme
    public var assets: AssetStore
    /// From the page to the site root; the server uses "/" so image paths work on every page.
    public var root: String

    public init(theme: Theme, assets: AssetStore, root: String = "/") {
        self.theme = theme
        self.assets = assets
        self.root = root
    }

    private var view: CellView { CellView(assets: assets, root: root) }

    /// One output as it arrives (nil for an empty one).
    public func html(for output: CellOutput) throws -> String? {
        guard let ctx = try view.context(output) else { return nil }
        return try theme.render("output", ctx)
    }

    /// All of a finished cell's outputs, merged, folded and labelled (errors, "not run") as the
    /// static page shows them under the cell.
    public func html(for cell: Cell, result: CellResult, role: CellRole, file: String) throws -> String {
        let ctx = try view.context(cell: cell, result: result, role: role == .starter ? .solution : role, file: file)
        let outputs = ctx["outputs"] as? [[String: Any]] ?? []
        return try outputs.map { try theme.render("output", $0) }.joined()
    }
}
