import ArgumentParser
import Foundation
import Kernels
import Model
import Runs
import Tokenizer

/// A user-facing error: one line, printed by ArgumentParser as "Error: …", exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension Normalization: ExpressibleByArgument {}
extension MatmulPrecision: ExpressibleByArgument {}
extension ComputeType: ExpressibleByArgument {}
extension AttentionAlgorithm: ExpressibleByArgument {}
extension RunTask: ExpressibleByArgument {}
extension LabelSmoothingStyle: ExpressibleByArgument {}
extension BestMetric: ExpressibleByArgument {}
extension GPTConfig.Preset: ExpressibleByArgument {}

/// Worker threads of a command that runs a model.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Worker threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

/// The run an inference command reads, and which of its weights files.
struct RunOptions: ParsableArguments {
    @Argument(help: "Run directory of `lmtrain fit`.") var runDirectory: String
    @Option(help: "Weights to use instead of RUN/model.safetensors: best (the best validation's), averaged (from `lmtrain average`), or a file.") var checkpoint: String?
}

/// A wall-clock budget such as "90s", "10m", "1h30m" or "45" (seconds).
struct Duration {
    let seconds: Double

    /// For `@Option(transform:)`: a bad value's error says what a duration looks like.
    static func parse(_ s: String) throws -> Duration {
        guard let d = Duration(s) else { throw ValidationError("'\(s)' is not a duration such as 10m, 1h30m or 90s") }
        return d
    }

    init?(_ s: String) {
        if let v = Double(s) {
            guard v > 0 else { return nil }
            seconds = v
            return
        }
        var total = 0.0, number = ""
        for ch in s {
            if ch.isNumber || ch == "." { number.append(ch); continue }
            guard let v = Double(number) else { return nil }
            switch ch {
            case "h": total += v * 3600
            case "m": total += v * 60
            case "s": total += v
            default: return nil
            }
            number = ""
        }
        guard number.isEmpty, total > 0 else { return nil }
        seconds = total
    }
}

/// "2,3": a TSV's source and target columns, 1-based.
struct ColumnPair {
    let source: Int, target: Int

    static func parse(_ s: String) throws -> ColumnPair {
        guard let c = ColumnPair(s) else { throw ValidationError("'\(s)' is not two different column numbers such as 2,3") }
        return c
    }

    init?(_ s: String) {
        let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 1, b >= 1, a != b else { return nil }
        source = a; target = b
    }

    var pair: (Int, Int) { (source, target) }
}
