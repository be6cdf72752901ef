import Foundation
import Kernels

/// The language model's matrices prepared for inference at one compute type (packed once, or quantised to
/// int8), as `Seq2SeqInferenceWeights` does for translation; nil keeps them unpacked, at the pool's precision.
public final class GPTInferenceWeights: @unchecked Sendable {
    public let computeType: ComputeType?
    struct Layer { let attention: AttentionMatrices; let mlp: MLPMatrices }
    let layers: [Layer]
    /// The tied output projection: logits = x·wteᵀ.
    let output: InferenceMatrix

    public init(model m: GPT, computeType type: ComputeType?) {
        computeType = type
        let C = m.config.dModel
        layers = m.P.blocks.map { Layer(attention: AttentionMatrices(type, $0.attention, C: C), mlp: MLPMatrices(type, $0.mlp, C: C)) }
        output = InferenceMatrix(type, weight: m.P.wte, ldw: C, k: C, n: m.config.vocabSize, transposed: true)
    }
}

extension GPT {
    /// One incremental decoding step: appends `tokens[b]` to sequence b of the cache at position
    /// `cache.length` and writes the next-token logits [batch, V]. Same arithmetic as the full forward pass
    /// (the tests compare them), with attention over the cached keys and values only. `weights` (default:
    /// unpacked, at the pool's precision) says how the products are computed.
    public func decodeStep(tokens: [Int32], cache: KVCache, logits: UnsafeMutablePointer<Float>, weights: GPTInferenceWeights? = nil) {
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
            let w = block(l, p), prepared = weights?.layers[l]
            layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x, weight: w.ln1w, bias: w.ln1b, N: N, C: C, pool: pool)
            if let prepared { prepared.attention.qkv.forward(out: cache.qkv, input: cache.ln, bias: w.qkvb, rows: N, pool: pool) }
            else { linearForward(out: cache.qkv, input: cache.ln, weight: w.qkvw, bias: w.qkvb, N: N, In: C, Out: 3 * C, pool: pool) }
            for b in 0..<N {
                let q = cache.qkv + b * 3 * C
                cache.key(l, b, t).update(from: q + C, count: C)
                cache.value(l, b, t).update(from: q + 2 * C, count: C)
            }
            cachedAttentionForward(out: cache.atty, ldo: C, q: cache.qkv, ldq: 3 * C, keys: cache.keyBase(l), values: cache.valueBase(l),
                                   offsets: cache.offsets, ldkv: C, lengths: cache.lengths, R: N, H: H, hs: hs, scale: scale,
                                   scores: cache.scores, ldScores: cache.capacity, pool: pool)
            if let prepared { prepared.attention.proj.forward(out: cache.proj, input: cache.atty, bias: w.projb, rows: N, pool: pool) }
            else { linearForward(out: cache.proj, input: cache.atty, weight: w.projw, bias: w.projb, N: N, In: C, Out: C, pool: pool) }
            add(out: cache.x, cache.x, cache.proj, count: N * C, pool: pool)
            layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x, weight: w.ln2w, bias: w.ln2b, N: N, C: C, pool: pool)
            if let prepared {
                prepared.mlp.fc.forward(out: cache.fc, input: cache.ln, bias: w.fcb, geluOut: cache.fcGelu, rows: N, pool: pool)
                prepared.mlp.proj.forward(out: cache.proj, input: cache.fcGelu, bias: w.fcprojb, rows: N, pool: pool)
            } else {
                linearForward(out: cache.fc, input: cache.ln, weight: w.fcw, bias: w.fcb, geluOut: cache.fcGelu, N: N, In: C, Out: 4 * C, pool: pool)
                linearForward(out: cache.proj, input: cache.fcGelu, weight: w.fcprojw, bias: w.fcprojb, N: N, In: 4 * C, Out: C, pool: pool)
            }
            add(out: cache.x, cache.x, cache.proj, count: N * C, pool: pool)
        }
        layerNormForward(out: cache.ln, mean: cache.mean, rstd: cache.rstd, input: cache.x,
                         weight: P.lnfw, bias: P.lnfb, N: N, C: C, pool: pool)
        if let weights { weights.output.forward(out: logits, input: cache.ln, bias: nil, rows: N, pool: pool) }
        else {
            sgemm(transA: false, transB: true, m: N, n: c.vocabSize, k: C, alpha: 1, a: cache.ln, lda: C, b: wte, ldb: C,
                  beta: 0, c: logits, ldc: c.vocabSize, pool: pool)
        }
        cache.advance()
    }
}
