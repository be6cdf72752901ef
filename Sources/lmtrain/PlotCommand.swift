import ArgumentParser
import Evaluation
import Foundation

import FileIO
import Runs

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a run's training curves (loss, NLL, validation perplexity, BLEU) and its reliability diagram as SVG.",
        discussion: "The reliability diagram (RUN/reliability.svg) comes from the last `lmtrain eval` of the run (RUN/calibration.json).")
    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Option(help: "Where to write the SVG (default RUN/curves.svg).") var output: String?

    func run() throws {
        _ = try Run.task(of: runDirectory)
        let paths = RunPaths(runDirectory)
        let path = output ?? paths.curves
        try writeCurves(run: runDirectory, to: path)
        printErr("wrote \(path)")
        if let d = FileManager.default.contents(atPath: paths.calibration) {
            guard let rep = try? JSONDecoder().decode(CalibrationReport.self, from: d) else {
                throw CLIError("\(runDirectory)/calibration.json is not a calibration report: run `lmtrain eval` again")
            }
            let svg = paths.reliabilityDiagram
            try writeAtomically(Data(ReliabilityDiagram.pair(rep, title: URL(fileURLWithPath: runDirectory).lastPathComponent).utf8), to: svg)
            printErr("wrote \(svg)")
        } else {
            printErr("no reliability diagram yet: `lmtrain eval \(runDirectory) FILE` measures calibration and draws it")
        }
    }
}

/// Renders RUN/metrics.jsonl to an SVG file (atomically).
func writeCurves(run: String, to path: String) throws {
    let text = (try? String(contentsOfFile: RunPaths(run).metrics, encoding: .utf8)) ?? ""
    let name = URL(fileURLWithPath: run).lastPathComponent
    try writeAtomically(Data(trainingCurves(metricsJSONL: text, title: name).utf8), to: path)
}
