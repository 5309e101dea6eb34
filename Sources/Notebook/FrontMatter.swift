import Yams

/// The YAML header of a lesson, between `---` lines at the very top:
///
///     ---
///     title: Fine-tuning a ResNet
///     order: 3
///     summary: Replace the head, freeze the body, train.
///     timeout: 300          # default per-cell limit, seconds
///     inputs: [models/resnet18.safetensors]
///     threads: 2
///     seed: 42
///     ---
public struct FrontMatter: Sendable, Equatable {
    public var title: String?
    public var order: Int?
    public var summary: String?
    /// Default per-cell time limit in seconds.
    public var timeout: Double?
    /// Files the lesson reads (glob patterns relative to the package root); their contents are
    /// part of the execution cache key.
    public var inputs: [String] = []
    /// `Threads.count` for the lesson's program.
    public var threads: Int?
    /// `manualSeed` for the lesson's program.
    public var seed: UInt64?
    /// Keys allowed by the parser's configuration beyond the ones above, as YAML scalars or
    /// re-serialised YAML for collections.
    public var extra: [String: String] = [:]
    /// Lines the front matter occupies (both `---` lines included); nil without front matter.
    public var lines: ClosedRange<Int>?

    public init() {}

    public static let knownKeys = ["title", "order", "summary", "timeout", "inputs", "threads", "seed"]

    /// Parses the YAML between the fences. `firstLine` is the file line of the first YAML line.
    static func parse(yaml: String, firstLine: Int, file: String,
                      extraAllowed: Set<String>) throws -> FrontMatter {
        var result = FrontMatter()
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw NotebookError(file: file, line: yamlLine(error).map { $0 + firstLine - 1 } ?? firstLine,
                                "invalid YAML front matter: \(yamlProblem(error))")
        }
        guard let node else { return result }
        guard let mapping = node.mapping else {
            throw NotebookError(file: file, line: firstLine, "front matter must be a YAML mapping of key: value lines")
        }
        for (keyNode, value) in mapping {
            let line = (keyNode.mark?.line ?? 1) + firstLine - 1
            guard let key = keyNode.string else {
                throw NotebookError(file: file, line: line, "front matter keys must be strings")
            }
            func fail(_ expected: String) -> NotebookError {
                NotebookError(file: file, line: line, "front matter '\(key)' must be \(expected)")
            }
            func scalarString() throws -> String {
                guard let s = value.scalar?.string else { throw fail("a single line of text") }
                return s
            }
            switch key {
            case "title": result.title = try scalarString()
            case "summary": result.summary = try scalarString()
            case "order":
                guard let v = value.int else { throw fail("an integer") }
                result.order = v
            case "timeout":
                guard let v = value.float, v > 0, v.isFinite else { throw fail("a positive number of seconds") }
                result.timeout = v
            case "threads":
                guard let v = value.int, v >= 1 else { throw fail("a positive integer") }
                result.threads = v
            case "seed":
                guard let v = value.int, v >= 0 else { throw fail("a non-negative integer") }
                result.seed = UInt64(v)
            case "inputs":
                if let s = value.scalar?.string {
                    result.inputs = [s]
                } else if let seq = value.sequence {
                    result.inputs = try seq.map { item in
                        guard let s = item.scalar?.string else { throw fail("a list of file paths or glob patterns") }
                        return s
                    }
                } else {
                    throw fail("a list of file paths or glob patterns")
                }
            default:
                guard extraAllowed.contains(key) else {
                    throw NotebookError(file: file, line: line,
                                        "unknown front matter key '\(key)' (known: \((knownKeys + extraAllowed.sorted()).joined(separator: ", ")))")
                }
                if let s = value.scalar?.string {
                    result.extra[key] = s
                } else {
                    result.extra[key] = (try? Yams.serialize(node: value)) ?? ""
                }
            }
        }
        return result
    }

    private static func yamlLine(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        case .duplicatedKeysInMapping(_, let context):
            return context.mark.line
        default:
            return nil
        }
    }

    private static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
             .composer(let context, let problem, _, _):
            if let context { return "\(problem) (\(context.text))" }
            return problem
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicated key \(duplicates.joined(separator: ", "))"
        default:
            return String(describing: error).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

import Foundation
