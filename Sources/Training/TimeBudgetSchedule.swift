import Foundation
import Runs

/// Learning rate of a run with only a wall-clock budget: linear warm-up over `warmup` steps (cut short once a
/// tenth of the budget has passed, as a step budget caps it at a tenth of its steps), then cosine decay to
/// `peak·minRatio` over the rest of the *time*. Progress is measured in seconds, not steps: a schedule fixed in
/// steps from an early speed estimate ends early or late when the machine's speed changes mid-run (seen: a
/// 10-minute budget trained 6 min 12 s), while this one reaches its floor at the budget whatever the speed.
public struct TimeBudgetSchedule: Sendable, Equatable {
    public var peak: Float
    public var warmup: Int
    /// Seconds.
    public var budget: Double
    public var minRatio: Float = 0.1

    public init(peak: Float, warmup: Int, budget: Double, minRatio: Float = 0.1) {
        self.peak = peak; self.warmup = warmup; self.budget = budget; self.minRatio = minRatio
    }

    /// The schedule of a run's options (which must hold a time budget).
    public init(_ o: TrainOptions) {
        self.init(peak: o.lr, warmup: o.warmup, budget: o.timeBudget!)
    }

    /// Share of the warm-up done before step `s` (0-based) at `elapsed` seconds: steps or time, whichever is further.
    public func warmupFraction(step s: Int, elapsed: Double) -> Double {
        max(Double(s + 1) / Double(max(1, warmup)), elapsed / (0.1 * budget))
    }

    /// The rate of step `s` starting at `elapsed` seconds, given when the warm-up ended (nil: not yet).
    public func lr(step s: Int, elapsed: Double, warmupEnded: Double?) -> Float {
        guard let start = warmupEnded else { return peak * Float(min(1, warmupFraction(step: s, elapsed: elapsed))) }
        return CosineSchedule.decay(peak: peak, minRatio: minRatio, progress: min(1, max(0, (elapsed - start) / max(1e-9, budget - start))))
    }
}
