import Kernels

/// Paired bootstrap resampling for BLEU (Koehn 2004), as sacreBLEU's `--paired-bs` computes it: the test
/// corpus is resampled with replacement `samples` times, the same sentences for both systems in each sample,
/// and each sample's corpus BLEU is computed from summed sufficient statistics.
///
/// - p-value (sacreBLEU's `_compute_p_value`): the statistic is |BLEU(system) − BLEU(baseline)| per sample,
///   centred on its mean (the null hypothesis: no difference); p = (#{centred > observed difference} + 1) /
///   (samples + 1), the share of samples at least as far from zero as the real difference, by chance alone.
/// - 95 % interval (sacreBLEU's `estimate_ci`): the mean of each system's sample scores ± half the distance
///   between its 2.5th and 97.5th percentiles (the sorted scores at n/40 and n − n/40 − 1).
///
/// sacreBLEU draws its samples with numpy's PCG64 and seed 12345; this draws them with SplitMix64 from `seed`,
/// so p-values and intervals agree with sacreBLEU's to Monte-Carlo precision, not digit for digit.
public struct PairedBootstrap: Sendable {
    public struct Side: Sendable {
        /// BLEU of the whole corpus.
        public let score: Double
        /// Mean of the sample scores, and half the width of their 95 % interval.
        public let mean: Double, halfWidth: Double
    }
    public let baseline: Side, system: Side
    public let pValue: Double
    public let samples: Int

    /// Compares `system` with `baseline` against `references` (all equally long, non-empty).
    public init(baseline: [String], system: [String], references: [String], samples: Int = 1000, seed: UInt64 = 12345) {
        precondition(baseline.count == references.count && system.count == references.count && !references.isEmpty && samples > 0)
        let statsA = Metrics.bleuStatistics(hypotheses: baseline, references: references)
        let statsB = Metrics.bleuStatistics(hypotheses: system, references: references)
        let a = Self.flat(statsA), b = Self.flat(statsB)
        let n = references.count
        var rng = SplitMix64(seed: seed)
        var scoresA = [Double](), scoresB = [Double]()
        scoresA.reserveCapacity(samples); scoresB.reserveCapacity(samples)
        var sumA = [Int](repeating: 0, count: 10), sumB = sumA
        for _ in 0..<samples {
            for k in 0..<10 { sumA[k] = 0; sumB[k] = 0 }
            for _ in 0..<n {
                let i = Int(rng.next() % UInt64(n)) * 10
                for k in 0..<10 { sumA[k] += a[i + k]; sumB[k] += b[i + k] }
            }
            scoresA.append(Self.score(sumA)); scoresB.append(Self.score(sumB))
        }
        let real = (Metrics.bleu(of: statsA.reduce(BLEUStatistics(), +)).score, Metrics.bleu(of: statsB.reduce(BLEUStatistics(), +)).score)
        let diffs = zip(scoresA, scoresB).map { abs($1 - $0) }
        let meanDiff = diffs.reduce(0, +) / Double(samples)
        let observed = abs(real.1 - real.0)
        let beyond = diffs.filter { $0 - meanDiff > observed }.count
        pValue = Double(beyond + 1) / Double(samples + 1)
        self.baseline = Self.side(real.0, scoresA)
        self.system = Self.side(real.1, scoresB)
        self.samples = samples
    }

    /// [hyp len, ref len, correct 1…4, total 1…4] per sentence, back to back.
    static func flat(_ stats: [BLEUStatistics]) -> [Int] {
        stats.flatMap { [$0.hypothesisLength, $0.referenceLength] + $0.correct + $0.total }
    }

    static func score(_ s: [Int]) -> Double {
        Metrics.bleuFromStatistics(correct: Array(s[2..<6]), total: Array(s[6..<10]), sysLen: s[0], refLen: s[1]).score
    }

    static func side(_ score: Double, _ samples: [Double]) -> Side {
        let sorted = samples.sorted()
        let lower = sorted.count / 40, upper = sorted.count - lower - 1
        return Side(score: score, mean: samples.reduce(0, +) / Double(samples.count),
                    halfWidth: 0.5 * (sorted[upper] - sorted[lower]))
    }
}
