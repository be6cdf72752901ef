import ArgumentParser
import Evaluation
import Foundation
import Tokenizer
import Training

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a run's training curves (loss, NLL, validation perplexity) as SVG.")
    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Option(help: "Where to write the SVG (default RUN/curves.svg).") var output: String?

    func run() throws {
        _ = try RunConfig.load(run: runDirectory)
        let path = output ?? runDirectory + "/curves.svg"
        try writeCurves(run: runDirectory, to: path)
        printErr("wrote \(path)")
    }
}

/// Renders RUN/metrics.jsonl to an SVG file (atomically).
func writeCurves(run: String, to path: String) throws {
    let text = (try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? ""
    let name = URL(fileURLWithPath: run).lastPathComponent
    try writeAtomically(Data(trainingCurves(metricsJSONL: text, title: name).utf8), to: path)
}
