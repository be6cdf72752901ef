import ArgumentParser
import Foundation
import Runs
import Training

struct AverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "average",
        abstract: "Average the weights of a run's last checkpoints (kept with `fit --keep-checkpoints N`).",
        discussion: """
        Writes the element-wise mean of the newest N snapshots in RUN/checkpoints to RUN/model.averaged.safetensors \
        (or --output). Use it with `lmtrain translate|eval|generate RUN --checkpoint FILE`; RUN/model.safetensors \
        and the optimizer state are left as they are, so the run can still be resumed.
        """)

    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Option(help: "How many of the newest kept checkpoints to average.") var last: Int = 5
    @Option(help: "Output weights file (default RUN/model.averaged.safetensors).") var output: String?

    func validate() throws {
        if last < 1 { throw ValidationError("--last must be at least 1") }
    }

    func run() throws {
        _ = try Run.task(of: runDirectory)
        let kept = try Checkpoint.snapshots(run: runDirectory)
        guard kept.count >= last else {
            throw RunError.invalidOption("\(RunPaths(runDirectory).snapshots) holds \(kept.count) checkpoint(s), fewer than --last \(last); train with --keep-checkpoints \(last) or average fewer")
        }
        let chosen = Array(kept.suffix(last))
        let out = output ?? RunPaths(runDirectory).averagedWeights
        try CheckpointAverage.average(paths: chosen.map(\.path), to: out)
        say("averaged steps \(chosen.map { String($0.step) }.joined(separator: ", ")) → \(out)")
    }
}
