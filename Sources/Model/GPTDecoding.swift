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
    let scratch: FloatArena
    /// One layer's keys (or values) for all rows, for reordering without allocating.
    let reorderScratch: FloatArena
    let x, ln, qkv, atty, proj, fc, fcGelu, mean, rstd, scores: UnsafeMutablePointer<Float>

    public init(config c: GPTConfig, batch: Int) {
        self.batch = batch
        capacity = c.context
        C = c.dModel
        layers = c.layers
        keys = FloatArena(count: c.layers * batch * c.context * c.dModel)
        values = FloatArena(count: c.layers * batch * c.context * c.dModel)
        reorderScratch = FloatArena(count: batch * c.context * c.dModel)
        let sizes = [batch * C, batch * C, batch * 3 * C, batch * C, batch * C, batch * 4 * C, batch * 4 * C, batch, batch, c.context]
        let padded = sizes.map { ($0 + 15) / 16 * 16 }
        scratch = FloatArena(count: padded.reduce(0, +))
        var p = scratch.base
        var ptrs: [UnsafeMutablePointer<Float>] = []
        for s in padded { ptrs.append(p); p += s }
        (x, ln, qkv, atty, proj, fc, fcGelu, mean, rstd, scores) = (ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6], ptrs[7], ptrs[8], ptrs[9])
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
        for l in 0..<c.layers {
            let w = block(l, p)
            layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x, weight: w.ln1w, bias: w.ln1b, N: N, C: C, pool: pool)
            linearForward(out: cache.qkv, input: cache.ln, weight: w.qkvw, bias: w.qkvb, N: N, In: C, Out: 3 * C, pool: pool)
            for b in 0..<N {
                let q = cache.qkv + b * 3 * C
                cache.key(l, b, t).update(from: q + C, count: C)
                cache.value(l, b, t).update(from: q + 2 * C, count: C)
                for h in 0..<H {
                    let s = cache.scores
                    for j in 0...t {
                        let k = cache.key(l, b, j) + h * hs
                        var d: Float = 0
                        for i in 0..<hs { d += q[h * hs + i] * k[i] }
                        s[j] = d
                    }
                    causalSoftmaxRow(y: s, x: s, visible: t + 1, scale: scale)
                    let o = cache.atty + b * C + h * hs
                    o.update(repeating: 0, count: hs)
                    for j in 0...t {
                        let v = cache.value(l, b, j) + h * hs, pj = s[j]
                        for i in 0..<hs { o[i] += pj * v[i] }
                    }
                }
            }
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

/// Softmax of scale·x over the first `visible` entries of a row, in place allowed (the kernels module's row
/// helper, reached through the public causal-softmax kernel for one row).
@inline(__always)
func causalSoftmaxRow(y: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>, visible: Int, scale: Float) {
    causalSoftmaxForward(probs: y, scores: x, H: 1, Tq: 1, Tk: visible, offset: visible - 1, scale: scale,
                         pool: singleThread)
}

/// A one-thread pool for tiny kernels inside a step that already runs on the caller.
let singleThread = ThreadPool(threads: 1)

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
