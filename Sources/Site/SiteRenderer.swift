import Foundation
import Notebook

/// Renders a course (lessons and exercises with their execution results) into a folder of static
/// pages. All links are relative, so the site works from file:// and from any static server.
///
///     index.html, lessons/NAME.html, exercises/NAME.html
///     assets/  theme assets, search-index.js, img/ (cell images), katex/ (when math is used)
public struct SiteRenderer {
    public struct Options: Sendable {
        /// Leave reference solutions out of exercise pages and the search index.
        public var includeSolutions = true
        /// Let lessons use raw HTML (cmark's unsafe mode).
        public var allowRawHTML = false
        /// The folder lesson paths are relative to (default: the current directory).
        public var sourceRoot: URL?
        /// Report broken internal links, anchors and `@fig-` references as warnings instead of
        /// failing the build.
        public var allowBrokenLinks = false
        public init() {}
    }

    public var theme: Theme
    public var math: MathRenderer
    public var options: Options
    /// Problems that do not stop the build (broken links, math left to the browser).
    public private(set) var warnings: [String] = []

    public init(theme: Theme, math: MathRenderer, options: Options = Options()) {
        self.theme = theme
        self.math = math
        self.options = options
    }

    /// Numbered figures and tables of the whole course: label -> ("Figure 3", page URL).
    var labels: [String: (name: String, url: String)] = [:]
    /// Internal links and references that do not resolve: `file:line: link to X: …`.
    var brokenLinks: [String] = []
    /// Page URL -> the prose's links as written in the source, by their href in the page.
    var linkSources: [String: [String: String]] = [:]

    /// Writes the whole site into `directory` (which should be empty). `runs` (from the builder)
    /// fill the build report page. Broken internal links fail the render, unless allowed.
    public mutating func render(_ course: Course, runs: [SiteBuilder.PageRun] = [], into directory: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let assets = AssetStore(root: directory)
        labels = [:]
        brokenLinks = []
        linkSources = [:]
        try numberLabels(course)

        // 1. Drafts: prose through cmark, cells through their template, math collected.
        var drafts: [PageDraft] = []
        var mathSpans: [MathSpan] = []
        let pages = course.pages
        for page in pages {
            let draft = try makeDraft(lesson: page.lesson, result: page.result, kind: page.kind, url: page.url,
                                      course: course, assets: assets)
            mathSpans += draft.math
            drafts.append(draft)
        }
        var introDraft: PageDraft?
        if let intro = course.intro {
            introDraft = try makeDraft(lesson: intro, result: nil, kind: .lesson, url: "index.html", course: course, assets: assets)
            mathSpans += introDraft!.math
        }

        // 2. Math for the whole site at once.
        let renderedMath = try math.render(mathSpans)
        math.save()
        if case .client = math.mode, !mathSpans.isEmpty {
            warnings.append("math is left for the browser (katex.min.js + auto-render): node or the KaTeX module (Debian package 'katex') was not found")
        }
        var mathCursor = 0
        func takeMath(_ draft: PageDraft) -> [String] {
            defer { mathCursor += draft.math.count }
            return Array(renderedMath[mathCursor..<(mathCursor + draft.math.count)])
        }

        // 3. Pages.
        var index = SearchIndex()
        var bodies: [String] = []
        for (i, page) in pages.enumerated() {
            let draft = drafts[i]
            let body = draft.finish(math: takeMath(draft))
            bodies.append(body)
            var ctx = baseContext(course: course, currentURL: page.url, root: "../")
            ctx["pageTitle"] = page.title
            ctx["kind"] = page.kind.rawValue
            ctx["kindLabel"] = page.kind == .lesson ? "Lesson \(course.lessons.firstIndex { $0.url == page.url }.map { $0 + 1 } ?? 0)" : "Exercise"
            if !draft.hasH1 { ctx["showTitle"] = true }
            if let summary = page.lesson.frontMatter.summary { ctx["summary"] = summary }
            ctx["content"] = body
            // Problems outside any cell (the lesson's program failed to start, …).
            if let messages = page.result?.messages, !messages.isEmpty { ctx["messages"] = messages; ctx["hasMessages"] = true }
            let toc = draft.headings.filter { $0.level == 2 || $0.level == 3 }
            if !toc.isEmpty {
                ctx["hasToc"] = true
                ctx["toc"] = toc.map { ["id": $0.id, "text": $0.text, "sub": $0.level == 3] as [String: Any] }
            }
            let previous = i == 0 ? ("index.html", "Home") : (pages[i - 1].url, pages[i - 1].title)
            ctx["prev"] = ["href": "../" + previous.0, "title": previous.1]
            if i + 1 < pages.count { ctx["next"] = ["href": "../" + pages[i + 1].url, "title": pages[i + 1].title] }
            if !draft.math.isEmpty { ctx["math"] = mathContext(root: "../") }
            try write(theme.render("page", ctx), to: directory.appendingPathComponent(page.url))
            index.add(title: page.title, url: page.url, sections: draft.searchSections())
        }

        // Home page.
        var home = baseContext(course: course, currentURL: "index.html", root: "")
        home["pageTitle"] = course.title
        home["isHome"] = true
        home["showTitle"] = !(introDraft?.hasH1 ?? false)
        var introBody = ""
        if let introDraft {
            introBody = introDraft.finish(math: takeMath(introDraft))
            home["intro"] = introBody
            if !introDraft.math.isEmpty { home["math"] = mathContext(root: "") }
            index.add(title: course.title, url: "index.html", sections: introDraft.searchSections())
        }
        home["homeLessons"] = listContext(course.lessons, root: "")
        home["homeExercises"] = listContext(course.exercises, root: "")
        home["hasLessons"] = !course.lessons.isEmpty
        home["hasExercises"] = !course.exercises.isEmpty
        if let first = pages.first { home["next"] = ["href": first.url, "title": first.title] }
        try write(theme.render("page", home), to: directory.appendingPathComponent("index.html"))

        // The whole course on one page, and the build report.
        try write(theme.render("page", printContext(course: course, bodies: bodies, anyMath: !mathSpans.isEmpty)),
                  to: directory.appendingPathComponent("print.html"))
        var report = baseContext(course: course, currentURL: "build.html", root: "")
        report["pageTitle"] = "Build report"
        report["showTitle"] = true
        report["kindLabel"] = "Site"
        report["content"] = BuildReportPage.html(runs: runs, course: course)
        try write(theme.render("page", report), to: directory.appendingPathComponent("build.html"))

        // Every internal link and anchor of the prose must resolve.
        var idsByPage: [String: Set<String>] = [:]
        for (i, page) in pages.enumerated() { idsByPage[page.url] = Self.ids(in: bodies[i]) }
        idsByPage["index.html"] = Self.ids(in: introBody).union(["lessons", "exercises"])
        idsByPage["print.html"] = []
        idsByPage["build.html"] = []
        for (i, page) in pages.enumerated() { checkLinks(in: drafts[i].html, lesson: page.lesson, pageURL: page.url, pages: idsByPage, site: directory) }
        if let intro = course.intro, let introDraft { checkLinks(in: introDraft.html, lesson: intro, pageURL: "index.html", pages: idsByPage, site: directory) }
        if !brokenLinks.isEmpty {
            if !options.allowBrokenLinks {
                throw SiteError("the site was not updated: broken links:\n" + brokenLinks.joined(separator: "\n")
                                + "\n(--allow-broken-links reports them as warnings)")
            }
            warnings += brokenLinks
        }

        // 4. Assets: the theme's, the search index, KaTeX when any page has math.
        try copyTree(theme.assets, to: directory.appendingPathComponent("assets"))
        try write(index.javascript(), to: directory.appendingPathComponent("assets/search-index.js"))
        try write("This folder is generated by `workbook build` and replaced on every build.\n",
                  to: directory.appendingPathComponent(SiteBuilder.marker))
        if !mathSpans.isEmpty, let katex = math.assetsDirectory {
            let target = directory.appendingPathComponent("assets/katex")
            try fm.createDirectory(at: target, withIntermediateDirectories: true)
            try fm.copyItem(at: katex.appendingPathComponent("katex.min.css"), to: target.appendingPathComponent("katex.min.css"))
            try copyTree(katex.appendingPathComponent("fonts"), to: target.appendingPathComponent("fonts"))
            if case .client = math.mode {
                try fm.copyItem(at: katex.appendingPathComponent("katex.min.js"), to: target.appendingPathComponent("katex.min.js"))
                try fm.copyItem(at: katex.appendingPathComponent("contrib/auto-render.js"), to: target.appendingPathComponent("auto-render.js"))
            }
        } else if !mathSpans.isEmpty {
            warnings.append("KaTeX's CSS and fonts (Debian package libjs-katex) were not found: math will not be styled")
        }
    }

    func mathContext(root: String) -> [String: Any] {
        var ctx: [String: Any] = ["katexCSS": root + "assets/katex/katex.min.css"]
        if case .client = math.mode {
            ctx["client"] = ["js": root + "assets/katex/katex.min.js", "autoRender": root + "assets/katex/auto-render.js"]
        }
        return ctx
    }

    /// What every page has: site title, root, sidebar, search.
    func baseContext(course: Course, currentURL: String, root: String) -> [String: Any] {
        func entries(_ pages: [CoursePage]) -> [[String: Any]] {
            pages.map { ["title": $0.title, "href": root + $0.url, "current": $0.url == currentURL] }
        }
        var ctx: [String: Any] = [
            "siteTitle": course.title, "root": root,
            "homeHref": root + "index.html", "homeCurrent": currentURL == "index.html",
            "css": root + "assets/style.css", "searchJS": root + "assets/search.js", "siteJS": root + "assets/site.js",
            "searchIndex": root + "assets/search-index.js",
        ]
        if !course.lessons.isEmpty { ctx["sidebarLessons"] = entries(course.lessons); ctx["hasSidebarLessons"] = true }
        if !course.exercises.isEmpty { ctx["sidebarExercises"] = entries(course.exercises); ctx["hasSidebarExercises"] = true }
        return ctx
    }

    func listContext(_ pages: [CoursePage], root: String) -> [[String: Any]] {
        pages.enumerated().map { i, page in
            var item: [String: Any] = ["title": page.title, "href": root + page.url, "number": i + 1]
            if let s = page.lesson.frontMatter.summary { item["summary"] = s }
            return item
        }
    }

    mutating func makeDraft(lesson: Lesson, result: LessonResult?, kind: CoursePage.Kind, url: String,
                            course: Course, assets: AssetStore) throws -> PageDraft {
        let root = url.contains("/") ? "../" : ""
        let view = CellView(assets: assets, root: root)
        var cells: [Int: String] = [:]
        var cellText: [Int: String] = [:]
        // An exercise page shows its cells by their roles (see `Exercise.role(of:)`).
        let exercise = kind == .exercise ? try? Exercise(lesson: lesson) : nil
        let solutionLines = exercise?.explanationLines.map { [$0] } ?? []
        func inSolutionProse(_ line: Int) -> Bool { solutionLines.contains { $0.contains(line) } }
        for cell in lesson.cells {
            let role = exercise?.role(of: cell) ?? .normal
            // The home page's intro is not run (no result): its cells are plain code.
            let cellResult = result.flatMap { r in cell.index < r.cells.count ? r.cells[cell.index] : nil }
            var html = ""
            var text = ""
            if role == .solution, let starter = try? Exercise.starterSource(of: cell, path: lesson.path) {
                var starterCell = cell
                starterCell.source = starter
                starterCell.id = cell.id + "-starter"
                starterCell.options.hideSource = false
                let ctx = try view.context(cell: starterCell, result: nil, role: .starter, file: lesson.path)
                html += try theme.render("cell", ctx)
                text += starter
            }
            let hidden = role == .hidden || (!options.includeSolutions && (role == .solution || inSolutionProse(cell.line)))
            if !hidden {
                var shown = cell
                if role == .solution { shown.source = Exercise.solutionSource(of: cell) }
                let ctx = try view.context(cell: shown, result: cellResult, role: role, file: lesson.path,
                                           figure: shown.options.label.flatMap { labels[$0]?.name })
                html += try theme.render("cell", ctx)
                if ctx["source"] != nil { text += (text.isEmpty ? "" : "\n") + shown.source }
            }
            cells[cell.index] = html
            cellText[cell.index] = text
        }
        var markdown = PageDraft.markdownWithPlaceholders(lesson)
        if !options.includeSolutions && !solutionLines.isEmpty {
            markdown = PageDraft.removingLines(solutionLines, from: markdown, lesson: lesson)
        }
        markdown = resolveReferences(markdown, lesson: lesson, pageURL: url)
        let (withMath, spans) = MathExtractor().extract(markdown, codeLines: PageDraft.codeLines(markdown))
        var html = Callouts.render(MarkdownRenderer(allowRawHTML: options.allowRawHTML).html(withMath))
        html = try rewriteLinks(html, lesson: lesson, pageURL: url, course: course, assets: assets)
        var ids = Set<String>()
        var (anchored, headings) = MarkdownRenderer.anchorHeadings(html, ids: &ids)
        // A leading `# Title` is the page title: the template shows it (above the summary).
        if headings.first?.level == 1, anchored.hasPrefix("<h1 "), let end = anchored.range(of: "</h1>") {
            anchored = String(anchored[end.upperBound...].drop { $0 == "\n" })
            headings.removeFirst()
        }
        return PageDraft(html: anchored, headings: headings, math: spans, cells: cells, cellText: cellText,
                         hasH1: headings.contains { $0.level == 1 })
    }

    /// Links to other lessons' `.md` files become links to their pages; images next to the
    /// lesson are copied into the site at the same relative place.
    mutating func rewriteLinks(_ html: String, lesson: Lesson, pageURL: String, course: Course, assets: AssetStore) throws -> String {
        let sourceDir = (lesson.path as NSString).deletingLastPathComponent
        let pageDir = (pageURL as NSString).deletingLastPathComponent
        var byPath: [String: String] = [:]
        for page in course.pages { byPath[Self.normalize(page.lesson.path)] = page.url }
        let regex = try! NSRegularExpression(pattern: "(href|src)=\"([^\"]*)\"")
        var out = html
        for match in regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).reversed() {
            guard let attrRange = Range(match.range(at: 1), in: html), let valueRange = Range(match.range(at: 2), in: html),
                  let whole = Range(match.range, in: out) else { continue }
            let attr = String(html[attrRange])
            let value = HTML.decodeEntities(String(html[valueRange]))
            if attr == "src" && (value.contains("://") || value.hasPrefix("//")) {
                warnings.append("\(lesson.path): image \(value) loads from another host; the site is meant to work offline")
                continue
            }
            if value.isEmpty || value.hasPrefix("#") || value.contains(":") || value.hasPrefix("/") { continue }
            let (path, fragment) = value.split(separator: "#", maxSplits: 1).map(String.init).splitFragment()
            let target = Self.normalize(sourceDir.isEmpty ? path : sourceDir + "/" + path)
            if attr == "href" && path.hasSuffix(".md") {
                guard let url = byPath[target] else {
                    brokenLinks.append("\(lesson.path):\(Self.line(of: value, in: lesson)): link to \(value): no such page (not a lesson or exercise of the course)")
                    continue
                }
                let href = Self.relative(url, from: pageDir) + (fragment.map { "#" + $0 } ?? "")
                linkSources[pageURL, default: [:]][href] = value
                out.replaceSubrange(whole, with: "\(attr)=\"\(HTML.escape(href))\"")
            } else if attr == "src" || !path.hasSuffix(".html") {
                // A file next to the lesson (images/plot.png): copy it to the same place in the site.
                let source = options.sourceRoot.map { $0.appendingPathComponent(target) } ?? URL(fileURLWithPath: target)
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isFolder), !target.hasPrefix("..") else {
                    // (A missing link target is reported by checkLinks.)
                    if attr == "src" { warnings.append("\(lesson.path): image \(value) not found") }
                    continue
                }
                let sitePath = Self.normalize(pageDir.isEmpty ? path : pageDir + "/" + path)
                guard !isFolder.boolValue, !sitePath.hasPrefix("..") && !sitePath.hasPrefix("assets/") else { continue }
                try assets.copy(source, to: sitePath)
            }
        }
        return out
    }

    /// Gives every `label=fig-…`/`tbl-…` of the course its number, in page order; a label used twice
    /// is an error naming both cells.
    mutating func numberLabels(_ course: Course) throws {
        var counts: [String: Int] = [:]
        var places: [String: String] = [:]
        for page in course.pages {
            for cell in page.lesson.cells {
                guard let label = cell.options.label else { continue }
                let kind = String(label.prefix { $0 != "-" })
                if let first = places[label] {
                    throw SiteError("\(page.lesson.path):\(cell.line): label \(label) is already used at \(first)")
                }
                places[label] = "\(page.lesson.path):\(cell.line)"
                counts[kind, default: 0] += 1
                labels[label] = ("\(CellOptions.labelKinds[kind] ?? "Figure") \(counts[kind]!)", page.url)
            }
        }
    }

    /// `@fig-NAME` / `@tbl-NAME` in prose (not in code) become links reading "Figure 3"; an
    /// unknown label is a broken link.
    mutating func resolveReferences(_ markdown: String, lesson: Lesson, pageURL: String) -> String {
        guard markdown.contains("@fig-") || markdown.contains("@tbl-") else { return markdown }
        let code = PageDraft.codeLines(markdown)
        let regex = try! NSRegularExpression(pattern: "(?<![A-Za-z0-9_@.])@((?:fig|tbl)-[A-Za-z0-9_-]*[A-Za-z0-9_])")
        var lines = markdown.components(separatedBy: "\n")
        let pageDir = (pageURL as NSString).deletingLastPathComponent
        for n in lines.indices where !code.contains(n + 1) && lines[n].contains("@") {
            let line = lines[n]
            var out = line
            for match in regex.matches(in: line, range: NSRange(line.startIndex..., in: line)).reversed() {
                guard let whole = Range(match.range, in: line), let name = Range(match.range(at: 1), in: line) else { continue }
                // Inside an inline code span: an odd number of backticks before it.
                if line[..<whole.lowerBound].filter({ $0 == "`" }).count % 2 == 1 { continue }
                let label = String(line[name])
                guard let target = labels[label] else {
                    brokenLinks.append("\(lesson.path):\(Self.line(of: "@" + label, in: lesson)): reference to @\(label): no such figure or table label (label=\(label) on a cell)")
                    continue
                }
                let href = (target.url == pageURL ? "" : Self.relative(target.url, from: pageDir)) + "#" + label
                linkSources[pageURL, default: [:]][href] = "@" + label
                out.replaceSubrange(Range(match.range, in: out)!, with: "[\(target.name)](\(href))")
            }
            lines[n] = out
        }
        return lines.joined(separator: "\n")
    }

    /// The first line of the lesson's file that holds `text` (1 when none does).
    static func line(of text: String, in lesson: Lesson) -> Int {
        let lines = lesson.text.components(separatedBy: "\n")
        return (lines.firstIndex { $0.contains("(" + text) } ?? lines.firstIndex { $0.contains(text) }).map { $0 + 1 } ?? 1
    }

    /// Every `id="…"` in a page body.
    static func ids(in html: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: " id=\"([^\"]+)\"")
        return Set(regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).compactMap {
            Range($0.range(at: 1), in: html).map { HTML.decodeEntities(String(html[$0])) }
        })
    }

    /// Checks the prose's relative links (after `rewriteLinks`): the page exists and so does the anchor.
    mutating func checkLinks(in html: String, lesson: Lesson, pageURL: String, pages: [String: Set<String>], site: URL) {
        let pageDir = (pageURL as NSString).deletingLastPathComponent
        let regex = try! NSRegularExpression(pattern: " href=\"([^\"]*)\"")
        for match in regex.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            guard let r = Range(match.range(at: 1), in: html) else { continue }
            let href = HTML.decodeEntities(String(html[r]))
            if href.isEmpty || href.contains(":") || href.hasPrefix("/") { continue }
            let written = linkSources[pageURL]?[href] ?? href
            if href.hasSuffix(".md") || href.contains(".md#") { continue }  // not a course page: reported by rewriteLinks
            let (path, fragment) = href.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init).splitFragment()
            let target = path.isEmpty ? pageURL : Self.normalize(pageDir.isEmpty ? path : pageDir + "/" + path)
            let place = "\(lesson.path):\(Self.line(of: written, in: lesson))"
            guard let ids = pages[target] else {
                if !path.hasSuffix(".html"), FileManager.default.fileExists(atPath: site.appendingPathComponent(target).path) { continue }
                brokenLinks.append("\(place): link to \(written): no such page")
                continue
            }
            if let fragment, !fragment.isEmpty, !ids.contains(fragment) {
                brokenLinks.append("\(place): link to \(written): no such anchor #\(fragment) in \(target)")
            }
        }
    }

    /// print.html: every lesson, then every exercise, in order, under their titles. Paths in the
    /// bodies are made relative to the site root.
    func printContext(course: Course, bodies: [String], anyMath: Bool) -> [String: Any] {
        var ctx = baseContext(course: course, currentURL: "print.html", root: "")
        ctx["pageTitle"] = course.title + " (the whole course)"
        ctx["showTitle"] = true
        ctx["kindLabel"] = "The whole course"
        ctx["isPrint"] = true
        let regex = try! NSRegularExpression(pattern: "(href|src)=\"([^\"]*)\"")
        var content = ""
        for (page, body) in zip(course.pages, bodies) {
            let pageDir = (page.url as NSString).deletingLastPathComponent
            var html = body
            for match in regex.matches(in: body, range: NSRange(body.startIndex..., in: body)).reversed() {
                guard let whole = Range(match.range, in: html), let attr = Range(match.range(at: 1), in: body),
                      let value = Range(match.range(at: 2), in: body) else { continue }
                let written = body[value]
                if written.isEmpty || written.hasPrefix("#") || written.hasPrefix("/") || written.contains(":") { continue }
                let rebased = Self.normalize(pageDir + "/" + HTML.decodeEntities(String(body[value])))
                html.replaceSubrange(whole, with: "\(body[attr])=\"\(HTML.escape(rebased))\"")
            }
            let label = page.kind == .lesson ? "Lesson \((course.lessons.firstIndex { $0.url == page.url } ?? 0) + 1)" : "Exercise"
            content += "<section class=\"print-section\" id=\"\(HTML.escape(page.url))\">\n<p class=\"kind\">\(label)</p>\n"
                + "<h1 class=\"page-title\">\(HTML.escape(page.title))</h1>\n\(html)\n</section>\n"
        }
        ctx["content"] = content
        if anyMath { ctx["math"] = mathContext(root: "") }
        return ctx
    }

    /// `lessons/../exercises/x.md` -> `exercises/x.md`.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast() } else { parts.append(part) }
        }
        return parts.joined(separator: "/")
    }

    /// The path of `target` (site-relative) as seen from the folder `from` (site-relative).
    static func relative(_ target: String, from folder: String) -> String {
        let depth = folder.split(separator: "/").count
        return String(repeating: "../", count: depth) + target
    }

    func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    func copyTree(_ source: URL, to target: URL) throws {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: source.path) else { return }
        try fm.createDirectory(at: target, withIntermediateDirectories: true)
        for name in names where !name.hasPrefix(".") {
            let s = source.appendingPathComponent(name), t = target.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: s.path, isDirectory: &isDir) else { continue }  // gone since the listing
            if isDir.boolValue { try copyTree(s, to: t) } else {
                if fm.fileExists(atPath: t.path) { try fm.removeItem(at: t) }
                try fm.copyItem(at: s.resolvingSymlinksInPath(), to: t)
            }
        }
    }
}

extension Array where Element == String {
    /// `["a.md", "frag"]` -> ("a.md", "frag").
    func splitFragment() -> (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}
