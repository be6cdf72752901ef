import Kernels

/// Keys and values of every layer for `batch` sequences, up to the model's context, plus the scratch an
/// incremental step needs (so decoding allocates nothing per token). Rows can be reordered by origin, which
/// beam search needs when hypotheses are re-ranked.
public final class KVCache {
    public let batch: Int
    public let capacity: Int
    public private(set) var length = 0
    let C: Int, layers: Int
    let keys: UnsafeMutablePointer<Float>     // [layers, batch, capacity, C]
    let values: UnsafeMutablePointer<Float>   // [layers, batch, capacity, C]
    /// One layer's keys (or values) for all rows, for reordering without allocating.
    let reorderScratch: UnsafeMutablePointer<Float>   // [batch, capacity, C]
    // One step's activations, rows = batch.
    let x, ln, atty, proj: UnsafeMutablePointer<Float>   // [batch, C]
    let qkv: UnsafeMutablePointer<Float>                 // [batch, 3C]
    let fc, fcGelu: UnsafeMutablePointer<Float>          // [batch, 4C]
    let mean, rstd: UnsafeMutablePointer<Float>          // [batch]
    let scores: UnsafeMutablePointer<Float>              // [batch · heads, capacity]
    /// Per row, for the cached-attention kernel: where its cache starts, and how many positions it sees.
    var offsets: [Int], lengths: [Int32]
    /// Owns every buffer above.
    private let arena: ActivationArena

    public init(config c: GPTConfig, batch: Int) {
        self.batch = batch
        capacity = c.context
        C = c.dModel
        layers = c.layers
        let a = ActivationArena()
        arena = a
        keys = a.take(c.layers * batch * c.context * c.dModel)
        values = a.take(c.layers * batch * c.context * c.dModel)
        reorderScratch = a.take(batch * c.context * c.dModel)
        x = a.take(batch * C); ln = a.take(batch * C); atty = a.take(batch * C); proj = a.take(batch * C)
        qkv = a.take(batch * 3 * C)
        fc = a.take(batch * 4 * C); fcGelu = a.take(batch * 4 * C)
        mean = a.take(batch); rstd = a.take(batch)
        scores = a.take(batch * c.heads * c.context)
        offsets = (0..<batch).map { $0 * c.context * c.dModel }
        lengths = [Int32](repeating: 0, count: batch)
    }

    public func reset() { length = 0 }

    func key(_ l: Int, _ b: Int, _ t: Int) -> UnsafeMutablePointer<Float> { keys + ((l * batch + b) * capacity + t) * C }
    func value(_ l: Int, _ b: Int, _ t: Int) -> UnsafeMutablePointer<Float> { values + ((l * batch + b) * capacity + t) * C }

    /// Row b takes the cached keys and values of row origins[b] (beam search re-ranking). Copies only the
    /// filled positions, through preallocated scratch; an identity reordering costs nothing.
    public func reorder(origins: [Int]) {
        reorderCacheRows([keys, values], layers: layers, rowCapacity: batch, span: capacity * C, filled: length * C,
                         rows: batch, origins: origins, scratch: reorderScratch)
    }

    func advance() { length += 1 }
}

/// Row i of every layer's block of cached keys or values takes row origins[i] of before (beam search re-ranking).
/// Rows are `span` floats apart, `rowCapacity` per layer; only the first `filled` floats of each (the positions
/// cached so far) are copied, through `scratch` ([rows, span]); an identity reordering costs nothing. Shared by
/// the decoder-only cache and the translation decoder's self-attention cache.
func reorderCacheRows(_ caches: [UnsafeMutablePointer<Float>], layers: Int, rowCapacity: Int, span: Int, filled: Int, rows: Int,
                      origins: [Int], scratch tmp: UnsafeMutablePointer<Float>) {
    if origins.count == rows && origins.enumerated().allSatisfy({ $0.offset == $0.element }) { return }
    for cache in caches {
        for l in 0..<layers {
            let base = cache + l * rowCapacity * span
            for r in 0..<rows { (tmp + r * span).update(from: base + r * span, count: filled) }
            for (i, o) in origins.enumerated() { (base + i * span).update(from: tmp + o * span, count: filled) }
        }
    }
}
