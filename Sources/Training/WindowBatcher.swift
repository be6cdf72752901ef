import Kernels

/// Random training windows: B windows of T+1 consecutive tokens, inputs the first T, targets the last T.
/// The generator's whole state is one UInt64, saved in checkpoints so a resumed run draws the same windows.
public struct WindowBatcher {
    var rng: SplitMix64
    public var state: UInt64 { rng.state }
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// Fills inputs and targets ([B, T] each) from `ids` (which must hold at least T+1 tokens).
    public mutating func fill(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>,
                              B: Int, T: Int, from ids: [Int32]) {
        ids.withUnsafeBufferPointer { fill(inputs: inputs, targets: targets, B: B, T: T, from: $0) }
    }

    /// The same from a buffer ([count ≥ T+1]): an array's, or a memory-mapped id cache's.
    public mutating func fill(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>,
                              B: Int, T: Int, from src: UnsafeBufferPointer<Int32>) {
        let starts = src.count - T   // windows of T+1 tokens start in 0..<starts
        for b in 0..<B {
            let s = Int(rng.next() % UInt64(starts))
            (inputs + b * T).update(from: src.baseAddress! + s, count: T)
            (targets + b * T).update(from: src.baseAddress! + s + 1, count: T)
        }
    }
}
