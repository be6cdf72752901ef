import ArgumentParser

@main
struct LMTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmtrain",
        abstract: "Train small transformer language and translation models on a CPU, with label smoothing.",
        version: "0.1.0",
        subcommands: [FitCommand.self, EvalCommand.self, GenerateCommand.self, TranslateCommand.self, AverageCommand.self, ScoreCommand.self, PlotCommand.self, TokenizerCommand.self, ExportCommand.self, LogitsCommand.self, BenchCommand.self]
    )
}
