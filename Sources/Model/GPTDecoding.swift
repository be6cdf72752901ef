import Foundation
import Kernels

/// Keys and values of every layer for `batch` sequences, up to the model's context, plus the scratch an
/// incremental step needs (so decoding allocates nothing per token). Rows can be reordered by origin, which
/// beam search needs when hypotheses are re-ranked.
public final class KVCache {
    public let batch: Int
    public let capacity: Int
    public private(set) var length = 0
    let C: Int, layers: Int
    let keys: FloatArena     // [layers, batch, capacity, C]
    let values: FloatArena   // [layers, batch, capacity, C]
    /// One layer's keys (or values) for all rows, for reordering without allocating.
    let reorderScratch: FloatArena   // [batch, capacity, C]
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
        keys = a.takeArena(c.layers * batch * c.context * c.dModel)
        values = a.takeArena(c.layers * batch * c.context * c.dModel)
        reorderScratch = a.takeArena(batch * c.context * c.dModel)
        x = a.take(batch * C); ln = a.take(batch * C); atty = a.take(batch * C); proj = a.take(batch * C)
        qkv = a.take(batch * 3 * C)
        fc = a.take(batch * 4 * C); fcGelu = a.take(batch * 4 * C)
        mean = a.take(batch); rstd = a.take(batch)
        scores = a.take(batch * c.heads * c.context)
        offsets = (0..<batch).map { $0 * c.context * c.dModel }
        lengths = [Int32](repeating: 0, count: batch)
    }

    public func reset() { length = 0 }

    func key(_ l: Int, _ b: Int, _ t: Int) -> UnsafeMutablePointer<Float> { keys.base + ((l * batch + b) * capacity + t) * C }
    func value(_ l: Int, _ b: Int, _ t: Int) -> UnsafeMutablePointer<Float> { values.base + ((l * batch + b) * capacity + t) * C }

    /// Row b takes the cached keys and values of row origins[b] (beam search re-ranking). Copies only the
    /// filled positions, through preallocated scratch; an identity reordering costs nothing.
    public func reorder(origins: [Int]) {
        reorderCacheRows([keys, values], layers: layers, rowCapacity: batch, span: capacity * C, filled: length * C,
                         rows: batch, origins: origins, scratch: reorderScratch.base)
    }

    func advance() { length += 1 }
}

extension GPT {
    /// One incremental decoding step: appends `tokens[b]` to sequence b of the cache at position
    /// `cache.length` and writes the next-token logits [batch, V]. Same arithmetic as the full forward pass
    /// (the tests compare them), with attention over the cached keys and values only.
    public func decodeStep(tokens: [Int32], cache: KVCache, logits: UnsafeMutablePointer<Float>) {
        precondition(tokens.count == cache.batch && cache.length < cache.capacity)
        let c = config, C = c.dModel, N = cache.batch, H = c.heads, hs = c.headSize, t = cache.length
        let p = params
        let wte = P.wte, wpe = P.wpe
        for b in 0..<N {
            let dst = cache.x + b * C, e = wte + Int(tokens[b]) * C, pos = wpe + t * C
            for j in 0..<C { dst[j] = e[j] + pos[j] }
        }
        let scale = 1 / Float(hs).squareRoot()
        for b in 0..<N { cache.lengths[b] = Int32(t + 1) }
        for l in 0..<c.layers {
            let w = block(l, p)
            layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x, weight: w.ln1w, bias: w.ln1b, N: N, C: C, pool: pool)
            linearForward(out: cache.qkv, input: cache.ln, weight: w.qkvw, bias: w.qkvb, N: N, In: C, Out: 3 * C, pool: pool)
            for b in 0..<N {
                let q = cache.qkv + b * 3 * C
                cache.key(l, b, t).update(from: q + C, count: C)
                cache.value(l, b, t).update(from: q + 2 * C, count: C)
            }
            cachedAttentionForward(out: cache.atty, ldo: C, q: cache.qkv, ldq: 3 * C, keys: cache.key(l, 0, 0), values: cache.value(l, 0, 0),
                                   offsets: cache.offsets, ldkv: C, lengths: cache.lengths, R: N, H: H, hs: hs, scale: scale,
                                   scores: cache.scores, ldScores: cache.capacity, pool: pool)
            linearForward(out: cache.proj, input: cache.atty, weight: w.projw, bias: w.projb, N: N, In: C, Out: C, pool: pool)
            add(out: cache.x, cache.x, cache.proj, count: N * C, pool: pool)
            layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x, weight: w.ln2w, bias: w.ln2b, N: N, C: C, pool: pool)
            linearForward(out: cache.fc, input: cache.ln, weight: w.fcw, bias: w.fcb, geluOut: cache.fcGelu, N: N, In: C, Out: 4 * C, pool: pool)
            linearForward(out: cache.proj, input: cache.fcGelu, weight: w.fcprojw, bias: w.fcprojb, N: N, In: 4 * C, Out: C, pool: pool)
            add(out: cache.x, cache.x, cache.proj, count: N * C, pool: pool)
        }
        layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x,
                         weight: P.lnfw, bias: P.lnfb, N: N, C: C, pool: pool)
        sgemm(transA: false, transB: true, m: N, n: c.vocabSize, k: C, alpha: 1, a: cache.ln, lda: C, b: wte, ldb: C,
              beta: 0, c: logits, ldc: c.vocabSize, pool: pool)
        cache.advance()
    }
}

/// Row i of every layer's block of cached keys or values takes row origins[i] of before (beam search re-ranking).
/// Rows are `span` floats apart, `rowCapacity` per layer; only the first `filled` floats of each (the positions
/// cached so far) are copied, through `scratch` ([rows, span]); an identity reordering costs nothing. Shared by
/// the decoder-only cache and the translation decoder's self-attention cache.
func reorderCacheRows(_ arenas: [FloatArena], layers: Int, rowCapacity: Int, span: Int, filled: Int, rows: Int,
                      origins: [Int], scratch tmp: UnsafeMutablePointer<Float>) {
    if origins.count == rows && origins.enumerated().allSatisfy({ $0.offset == $0.element }) { return }
    for arena in arenas {
        for l in 0..<layers {
            let base = arena.base + l * rowCapacity * span
            for r in 0..<rows { (tmp + r * span).update(from: base + r * span, count: filled) }
            for (i, o) in origins.enumerated() { (base + i * span).update(from: tmp + o * span, count: filled) }
        }
    }
}
