import ArgumentParser

/// `workbook`: run, check, grade and publish the course.
struct Workbook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workbook",
        abstract: "Run, check and publish the transfer-learning workbook.",
        subcommands: [RunCommand.self, CheckCommand.self, TestCommand.self, ReleaseCommand.self, GradeCommand.self, GradebookCommand.self, SimilarityCommand.self,
                      BuildCommand.self, ServeCommand.self, PretrainCommand.self])
}

Workbook.main()
