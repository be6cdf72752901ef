import Datasets
import Kernels

/// Random training windows: B windows of T+1 consecutive tokens, inputs the first T, targets the last T.
/// The generator's whole state is one UInt64, saved in checkpoints so a resumed run draws the same windows.
public struct WindowBatcher {
    var rng: SplitMix64
    public var state: UInt64 { rng.state }
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// Fills inputs and targets ([B, T] each) from `ids` (at least T+1 of them), in memory or in an id cache
    /// file: the same windows for the same state either way.
    public mutating func fill(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>,
                              B: Int, T: Int, from ids: TokenIDs) {
        let starts = ids.count - T   // windows of T+1 tokens start in 0..<starts
        for b in 0..<B {
            let s = Int(rng.next() % UInt64(starts))
            ids.copy(from: s, count: T, into: inputs + b * T)
            ids.copy(from: s + 1, count: T, into: targets + b * T)
        }
    }
}
