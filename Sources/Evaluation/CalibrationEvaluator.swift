import Foundation
import Kernels
import Model

/// A forward-only pass over a data set that shows every block of logits to an inspector (the evaluation
/// of a language model over a token stream, or of a translation model under teacher forcing).
public typealias EvaluationPass = (@escaping LogitsInspector) -> Void

/// Temperature scaling and calibration metrics from evaluation passes: statistics come from the logits
/// blocks as the head produces them (`calibrationRows`), so nothing of size tokens × V is ever stored.
public enum CalibrationEvaluator {
    /// Per-row statistics for `temperatures`, accumulated over a pass.
    final class Collector {
        let temperatures: [Float]
        let pool: ThreadPool
        var nllSum: [Double]
        var count = 0
        var entropySum = 0.0
        /// Reliability bins at each temperature whose index is in `binned`.
        var reliability: [Int: ReliabilityAccumulator] = [:]
        var nll: [Float] = [], conf: [Float] = [], correct: [Float] = [], entropy: [Float] = []

        init(temperatures: [Float], binned: [Int], pool: ThreadPool) {
            self.temperatures = temperatures
            self.pool = pool
            nllSum = [Double](repeating: 0, count: temperatures.count)
            for k in binned { reliability[k] = ReliabilityAccumulator() }
        }

        func inspect(_ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>, _ rows: Int, V: Int) {
            let nT = temperatures.count
            if nll.count < rows * nT {
                nll = [Float](repeating: 0, count: rows * nT); conf = nll
                correct = [Float](repeating: 0, count: rows); entropy = correct
            }
            temperatures.withUnsafeBufferPointer { tp in
                calibrationRows(logits: logits, targets: targets, rows: rows, vocab: V, temperatures: tp.baseAddress!, count: nT,
                                nll: &nll, confidence: &conf, correct: &correct, entropy: &entropy, pool: pool)
            }
            for r in 0..<rows where !correct[r].isNaN {
                count += 1
                entropySum += Double(entropy[r])
                for k in 0..<nT { nllSum[k] += Double(nll[r * nT + k]) }
                for k in reliability.keys { reliability[k]!.add(confidence: Double(conf[r * nT + k]), correct: correct[r] == 1) }
            }
        }
    }

    static func collect(_ pass: EvaluationPass, temperatures: [Float], binned: [Int], vocab: Int, pool: ThreadPool) -> Collector {
        let c = Collector(temperatures: temperatures, binned: binned, pool: pool)
        pass { logits, targets, rows in c.inspect(logits, targets, rows, V: vocab) }
        return c
    }

    /// The temperature minimising NLL over a (validation) pass: a coarse geometric grid, then a fine one.
    public static func fitTemperature(_ pass: EvaluationPass, vocab: Int, pool: ThreadPool) -> Float {
        func best(_ grid: [Float]) -> Float {
            let c = collect(pass, temperatures: grid, binned: [], vocab: vocab, pool: pool)
            return grid[c.nllSum.indices.min { c.nllSum[$0] < c.nllSum[$1] }!]
        }
        return best(TemperatureGrid.fine(around: best(TemperatureGrid.coarse)))
    }

    /// Calibration of a pass at T = 1 and at `temperature`.
    public static func report(_ pass: EvaluationPass, name: String, temperature: Float, vocab: Int, pool: ThreadPool) -> CalibrationReport {
        let c = collect(pass, temperatures: [1, temperature], binned: [0, 1], vocab: vocab, pool: pool)
        let n = Double(max(1, c.count))
        return CalibrationReport(name: name, tokens: c.count, nll: c.nllSum[0] / n, entropy: c.entropySum / n,
                                 before: c.reliability[0]!, temperature: Double(temperature), nllScaled: c.nllSum[1] / n,
                                 after: c.reliability[1]!)
    }
}
