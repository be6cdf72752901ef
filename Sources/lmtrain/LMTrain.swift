import ArgumentParser
import Foundation

@main
struct LMTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmtrain",
        abstract: "Train small transformer language and translation models on a CPU, with label smoothing.",
        version: "0.1.0",
        subcommands: [FitCommand.self, EvalCommand.self, GenerateCommand.self, TranslateCommand.self, AverageCommand.self, ScoreCommand.self, PlotCommand.self, TokenizerCommand.self, ExportCommand.self, LogitsCommand.self, BenchCommand.self]
    )

    /// ArgumentParser's own main, except that a failure prints its one line only: the usage text it appends
    /// after a validation error buried the message (help and --version still go through it).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            FileHandle.standardError.write(Data("Error: \(message(for: error))\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}
