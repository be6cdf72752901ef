import Foundation

/// One bin of a reliability diagram: predictions whose top-1 confidence lies in (lo, hi].
public struct ReliabilityBin: Codable, Sendable, Equatable {
    public var lo: Double, hi: Double
    public var count: Int
    /// Mean correctness and mean confidence of the bin's predictions (0 when empty).
    public var accuracy: Double, confidence: Double
}

/// Token-level calibration as Guo et al. (2017) measure it: top-1 confidences in 15 equal-width bins
/// (lo, hi] (a confidence of exactly 0 goes to the first bin); ECE = Σ_b (n_b/n)·|acc_b − conf_b|, MCE =
/// max over non-empty bins of |acc_b − conf_b|.
public struct ReliabilityAccumulator: Sendable {
    public let binCount: Int
    var counts: [Int]
    var sumConfidence: [Double]
    var sumCorrect: [Double]

    public init(bins: Int = 15) {
        binCount = bins
        counts = [Int](repeating: 0, count: bins)
        sumConfidence = [Double](repeating: 0, count: bins)
        sumCorrect = [Double](repeating: 0, count: bins)
    }

    public static func bin(of confidence: Double, bins: Int) -> Int {
        min(bins - 1, max(0, Int((confidence * Double(bins)).rounded(.up)) - 1))
    }

    public mutating func add(confidence: Double, correct: Bool) {
        let b = ReliabilityAccumulator.bin(of: confidence, bins: binCount)
        counts[b] += 1
        sumConfidence[b] += confidence
        sumCorrect[b] += correct ? 1 : 0
    }

    public var total: Int { counts.reduce(0, +) }

    public var bins: [ReliabilityBin] {
        (0..<binCount).map { b in
            let n = counts[b]
            return ReliabilityBin(lo: Double(b) / Double(binCount), hi: Double(b + 1) / Double(binCount), count: n,
                                  accuracy: n > 0 ? sumCorrect[b] / Double(n) : 0, confidence: n > 0 ? sumConfidence[b] / Double(n) : 0)
        }
    }

    public var ece: Double {
        let n = Double(max(1, total))
        return bins.reduce(0) { $0 + Double($1.count) / n * abs($1.accuracy - $1.confidence) }
    }

    public var mce: Double { bins.filter { $0.count > 0 }.map { abs($0.accuracy - $0.confidence) }.max() ?? 0 }
    public var accuracy: Double { sumCorrect.reduce(0, +) / Double(max(1, total)) }
    public var meanConfidence: Double { sumConfidence.reduce(0, +) / Double(max(1, total)) }
}

/// Calibration of a model on one data set, before and after temperature scaling (one T fitted on
/// validation NLL: Guo et al.'s baseline, which Müller et al. compare label smoothing with).
public struct CalibrationReport: Codable, Sendable {
    public var name: String
    public var tokens: Int
    public var nll: Double
    public var accuracy: Double
    public var meanConfidence: Double
    public var ece: Double
    public var mce: Double
    /// Mean entropy of the predicted distribution, nats.
    public var entropy: Double
    public var bins: [ReliabilityBin]
    public var temperature: Double
    public var nllScaled: Double
    public var eceScaled: Double
    public var mceScaled: Double
    public var meanConfidenceScaled: Double
    public var binsScaled: [ReliabilityBin]

    public init(name: String, tokens: Int, nll: Double, entropy: Double, before: ReliabilityAccumulator,
                temperature: Double, nllScaled: Double, after: ReliabilityAccumulator) {
        self.name = name; self.tokens = tokens; self.nll = nll; self.entropy = entropy
        accuracy = before.accuracy; meanConfidence = before.meanConfidence; ece = before.ece; mce = before.mce; bins = before.bins
        self.temperature = temperature; self.nllScaled = nllScaled
        eceScaled = after.ece; mceScaled = after.mce; meanConfidenceScaled = after.meanConfidence; binsScaled = after.bins
    }
}

/// Temperatures tried when fitting: a geometric grid from 0.25 to 4 (33 values, 1 among them), then a
/// finer one around the best (±12.5 %, 25 values). The NLL is smooth and unimodal in T, so two grids reach
/// ~1 % of the optimum, which is finer than its effect on ECE.
public enum TemperatureGrid {
    public static var coarse: [Float] { (0...32).map { Float(pow(2.0, Double($0 - 16) / 8)) } }
    public static func fine(around t: Float) -> [Float] { (0...24).map { t * Float(pow(2.0, Double($0 - 12) / 64)) } }
}
