import ArgumentParser
import Foundation
import Grader
import Notebook

/// `workbook similarity SUBMISSIONS/`: which students' answer cells share code; evidence for the
/// instructor to read, never a grade.
struct SimilarityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity",
        abstract: "Compare students' answer cells (starter and given code excluded) and write an HTML report of similar pairs.")

    @Argument(help: "Submissions as for `workbook grade`: a folder per student, a Canvas download (folder or .zip) or a GitHub Classroom clone.")
    var submissions: String

    @Option(help: "How the submissions are laid out: folders, canvas or classroom (default: detected).")
    var layout: SubmissionLayout?

    @Option(help: "Folder of exercises (instructor versions).")
    var exercises = "exercises"

    @Option(help: "Folder for the report (similarity-<date>.html; earlier ones are kept).")
    var out = "gradebooks"

    @Option(help: "Report pairs with an exercise whose score (Jaccard index of fingerprints) is at least this, 0...1.")
    var threshold = 0.5

    @Option(help: "Tokens per fingerprinted k-gram.")
    var kgram = Winnowing().k

    @Option(help: "K-grams per winnowing window (a shared run of kgram+window-1 tokens is always found).")
    var window = Winnowing().window

    @Option(help: "Ignore fingerprints found in more than this many students' answers (common knowledge).")
    var maxSharing = SimilarityRun.Options().maxStudentsPerFingerprint

    @Option(help: "Pairs shown with their code on the page (the others are listed in its table only).")
    var detailedPairs = SimilarityRun.Options().detailedPairs

    func validate() throws {
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1 (it is \(threshold))") }
        guard kgram >= 1, window >= 1 else { throw ValidationError("--kgram and --window must be at least 1") }
        guard maxSharing >= 2 else { throw ValidationError("--max-sharing must be at least 2 (a pair)") }
    }

    func run() throws {
        var options = SimilarityRun.Options()
        options.threshold = threshold
        options.winnowing = Winnowing(k: kgram, window: window)
        options.maxStudentsPerFingerprint = maxSharing
        options.detailedPairs = max(0, detailedPairs)
        options.layout = layout
        let start = Date()
        let run = try SimilarityRun(exercisesDirectory: URL(fileURLWithPath: exercises).standardizedFileURL,
                                    submissions: URL(fileURLWithPath: submissions).standardizedFileURL, options: options)
        let report = try run.run()
        for problem in report.problems { FileHandle.standardError.write(Data("\(SimilarityReport.plain(problem))\n".utf8)) }
        let page = try report.write(to: URL(fileURLWithPath: out).standardizedFileURL)
        print(report.summary(), terminator: "")
        print(String(format: "report: %@ (%.1f s)", page.path, Date().timeIntervalSince(start)))
    }
}
