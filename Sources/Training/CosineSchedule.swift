import Foundation

/// Learning rate: linear warm-up to `peak` over `warmup` steps, then cosine decay to `peak·minRatio` at `total`.
public struct CosineSchedule: Codable, Sendable, Equatable {
    public var peak: Float
    public var warmup: Int
    public var total: Int
    public var minRatio: Float = 0.1

    public init(peak: Float, warmup: Int, total: Int, minRatio: Float = 0.1) {
        self.peak = peak; self.warmup = warmup; self.total = total; self.minRatio = minRatio
    }

    /// The rate for step `s` (0-based).
    public func lr(_ s: Int) -> Float {
        if s < warmup { return peak * Float(s + 1) / Float(warmup) }
        let span = max(1, total - warmup)
        return Self.decay(peak: peak, minRatio: minRatio, progress: Double(min(1, Float(s - warmup) / Float(span))))
    }

    /// The cosine from `peak` (progress 0) to `peak·minRatio` (progress 1): shared with the clock schedule.
    static func decay(peak: Float, minRatio: Float, progress: Double) -> Float {
        let cosine = 0.5 * (1 + Float(cos(Double.pi * progress)))
        return peak * (minRatio + (1 - minRatio) * cosine)
    }
}
