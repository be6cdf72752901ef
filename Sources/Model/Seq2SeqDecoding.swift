import Foundation
import Kernels

/// What incremental decoding keeps for a batch of sentences: the encoder's cross-attention keys and values
/// per sentence and decoder layer (computed once; hypotheses of one sentence share them), and the decoder's
/// self-attention keys and values per hypothesis row (reordered by origin when beam search re-ranks). All
/// buffers are sized once for the capacities given, so a step allocates nothing.
public final class Seq2SeqDecoderState {
    public let rowCapacity: Int, sentenceCapacity: Int, sourceCapacity: Int, stepCapacity: Int
    /// Tokens fed so far (every live row has the same length).
    public internal(set) var length = 0
    public internal(set) var rows = 0
    var sentences: Int = 0
    var Ts = 0
    var rowSentence: [Int]
    var sourceLengths: [Int32]
    let C: Int, layers: Int
    let selfKeys, selfValues: FloatArena    // [layers, rowCapacity, stepCapacity, C]
    let crossKV: FloatArena                 // [layers, sentenceCapacity, sourceCapacity, 2C]
    let reorderScratch: FloatArena          // [rowCapacity, stepCapacity, C]
    let x, ln, mean, rstd, qkv, atty, proj, fc, fcGelu: UnsafeMutablePointer<Float>
    let scores: UnsafeMutablePointer<Float> // [rowCapacity · H, max(stepCapacity, sourceCapacity)]
    let scoreStride: Int
    private let scratch: FloatArena

    public init(config c: Seq2SeqConfig, rows: Int, sentences: Int, sourceLength: Int, steps: Int) {
        rowCapacity = rows; sentenceCapacity = sentences
        sourceCapacity = min(sourceLength, c.maxLength); stepCapacity = min(steps, c.maxLength)
        C = c.dModel; layers = c.decoderLayers
        selfKeys = FloatArena(count: layers * rows * stepCapacity * C)
        selfValues = FloatArena(count: layers * rows * stepCapacity * C)
        crossKV = FloatArena(count: layers * sentences * sourceCapacity * 2 * C)
        reorderScratch = FloatArena(count: rows * stepCapacity * C)
        rowSentence = [Int](repeating: 0, count: rows)
        sourceLengths = [Int32](repeating: 0, count: sentences)
        scoreStride = (max(stepCapacity, sourceCapacity) + 15) / 16 * 16
        let sizes = [rows * C, rows * C, rows, rows, rows * 3 * C, rows * C, rows * C, rows * 4 * C, rows * 4 * C,
                     rows * c.heads * scoreStride]
        let padded = sizes.map { ($0 + 15) / 16 * 16 }
        scratch = FloatArena(count: padded.reduce(0, +))
        var p = scratch.base
        var ptrs: [UnsafeMutablePointer<Float>] = []
        for s in padded { ptrs.append(p); p += s }
        (x, ln, mean, rstd, qkv, atty, proj, fc, fcGelu, scores) =
            (ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6], ptrs[7], ptrs[8], ptrs[9])
    }

    func selfKey(_ l: Int, _ r: Int, _ t: Int) -> UnsafeMutablePointer<Float> { selfKeys.base + ((l * rowCapacity + r) * stepCapacity + t) * C }
    func selfValue(_ l: Int, _ r: Int, _ t: Int) -> UnsafeMutablePointer<Float> { selfValues.base + ((l * rowCapacity + r) * stepCapacity + t) * C }
    func cross(_ l: Int, _ s: Int) -> UnsafeMutablePointer<Float> { crossKV.base + (l * sentenceCapacity + s) * sourceCapacity * 2 * C }

    /// Row i takes the cached self-attention keys and values of row origins[i] (filled positions only).
    func reorder(origins: [Int]) {
        reorderCacheRows([selfKeys, selfValues], layers: layers, rowCapacity: rowCapacity, span: stepCapacity * C,
                         filled: length * C, rows: rows, origins: origins, scratch: reorderScratch.base)
    }
}

extension Seq2Seq {
    /// Encodes `sources` (token ids, each ending in EOS, as in training) and fills the state's cross-attention
    /// keys and values; the state is then ready for the first `decodeStep`.
    public func beginDecoding(_ st: Seq2SeqDecoderState, sources: [[Int32]]) {
        let S = sources.count, C = config.dModel
        precondition(S >= 1 && S <= st.sentenceCapacity)
        let Ts = sources.map(\.count).max()!
        precondition(Ts >= 1 && Ts <= st.sourceCapacity, "source longer than the decoder state's capacity")
        var src = [Int32](repeating: 0, count: S * Ts), lengths = [Int32](repeating: 0, count: S)
        for (s, ids) in sources.enumerated() {
            for (t, id) in ids.enumerated() { src[s * Ts + t] = id }
            lengths[s] = Int32(ids.count)
        }
        let a = activations(B: S, Ts: Ts, Tt: 1)
        encoderForward(a, src: src, srcLengths: lengths, B: S, Ts: Ts, training: false, dropoutSeed: 0)
        for l in 0..<config.decoderLayers {
            let w = P.decoder[l].cross
            // The sentences' rows are Ts apart here and sourceCapacity apart in the state: one product per sentence.
            for s in 0..<S {
                linearForward(out: st.cross(l, s), input: a.memory + s * Ts * C, weight: w.kvw, bias: w.kvb,
                              N: Ts, In: C, Out: 2 * C, pool: pool)
            }
        }
        st.sentences = S
        st.Ts = Ts
        for s in 0..<S { st.sourceLengths[s] = lengths[s] }
        st.length = 0
        st.rows = 0
    }

    /// One decoder step for `tokens.count` hypothesis rows: row i belongs to sentence `sentences[i]`, extends
    /// row `origins[i]` of the previous step (nil on the first step, when every row starts from the empty
    /// prefix) and feeds `tokens[i]` (the decoder's start token, EOS, on the first step). Writes the
    /// next-token logits [rows, V]. Same arithmetic as the teacher-forced forward pass (a test compares them).
    public func decodeStep(_ st: Seq2SeqDecoderState, sentences: [Int], origins: [Int]?, tokens: [Int32],
                           logits: UnsafeMutablePointer<Float>) {
        let c = config, C = c.dModel, R = tokens.count, H = c.heads, hs = c.headSize, t = st.length
        precondition(R >= 1 && R <= st.rowCapacity && sentences.count == R && t < st.stepCapacity)
        if let origins {
            precondition(origins.count == R)
            st.reorder(origins: origins)
        } else {
            precondition(t == 0, "only the first step has no origins")
        }
        st.rows = R
        for i in 0..<R { st.rowSentence[i] = sentences[i] }
        let scale = embedScale, pos = positions.base + t * C
        for i in 0..<R {
            let dst = st.x + i * C, e = P.shared + Int(tokens[i]) * C
            for j in 0..<C { dst[j] = scale * e[j] + pos[j] }
        }
        let attnScale = 1 / Float(hs).squareRoot()
        for l in 0..<c.decoderLayers {
            let w = P.decoder[l]
            // Self-attention over this row's cached prefix.
            layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: w.attention.lnw, bias: w.attention.lnb, N: R, C: C, pool: pool)
            linearForward(out: st.qkv, input: st.ln, weight: w.attention.qkvw, bias: w.attention.qkvb, N: R, In: C, Out: 3 * C, pool: pool)
            for i in 0..<R {
                st.selfKey(l, i, t).update(from: st.qkv + i * 3 * C + C, count: C)
                st.selfValue(l, i, t).update(from: st.qkv + i * 3 * C + 2 * C, count: C)
            }
            pool.parallelFor(R * H, minimumPerThread: 4) { items in
                for item in items {
                    let i = item / H, h = item % H
                    let q = st.qkv + i * 3 * C + h * hs, s = st.scores + item * st.scoreStride
                    for j in 0...t { s[j] = dot(q, st.selfKey(l, i, j) + h * hs, hs) }
                    softmaxRowInPlace(s, count: t + 1, scale: attnScale)
                    let o = st.atty + i * C + h * hs
                    o.update(repeating: 0, count: hs)
                    for j in 0...t { axpyRow(o, s[j], st.selfValue(l, i, j) + h * hs, hs) }
                }
            }
            linearForward(out: st.proj, input: st.atty, weight: w.attention.projw, bias: w.attention.projb, N: R, In: C, Out: C, pool: pool)
            add(out: st.x, st.x, st.proj, count: R * C, pool: pool)
            // Cross-attention over the row's sentence.
            layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: w.cross.lnw, bias: w.cross.lnb, N: R, C: C, pool: pool)
            linearForward(out: st.qkv, input: st.ln, weight: w.cross.qw, bias: w.cross.qb, N: R, In: C, Out: C, pool: pool)
            pool.parallelFor(R * H, minimumPerThread: 4) { items in
                for item in items {
                    let i = item / H, h = item % H, sent = st.rowSentence[i]
                    let n = Int(st.sourceLengths[sent]), kv = st.cross(l, sent)
                    let q = st.qkv + i * C + h * hs, s = st.scores + item * st.scoreStride
                    for j in 0..<n { s[j] = dot(q, kv + j * 2 * C + h * hs, hs) }
                    softmaxRowInPlace(s, count: n, scale: attnScale)
                    let o = st.atty + i * C + h * hs
                    o.update(repeating: 0, count: hs)
                    for j in 0..<n { axpyRow(o, s[j], kv + j * 2 * C + C + h * hs, hs) }
                }
            }
            linearForward(out: st.proj, input: st.atty, weight: w.cross.projw, bias: w.cross.projb, N: R, In: C, Out: C, pool: pool)
            add(out: st.x, st.x, st.proj, count: R * C, pool: pool)
            // MLP.
            layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: w.mlp.lnw, bias: w.mlp.lnb, N: R, C: C, pool: pool)
            linearForward(out: st.fc, input: st.ln, weight: w.mlp.fcw, bias: w.mlp.fcb, geluOut: st.fcGelu, N: R, In: C, Out: 4 * C, pool: pool)
            linearForward(out: st.proj, input: st.fcGelu, weight: w.mlp.projw, bias: w.mlp.projb, N: R, In: 4 * C, Out: C, pool: pool)
            add(out: st.x, st.x, st.proj, count: R * C, pool: pool)
        }
        layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: P.decLnfW, bias: P.decLnfB, N: R, C: C, pool: pool)
        sgemm(transA: false, transB: true, m: R, n: c.vocabSize, k: C, alpha: 1, a: st.ln, lda: C, b: P.shared, ldb: C,
              beta: 0, c: logits, ldc: c.vocabSize, pool: pool)
        st.length += 1
    }
}

@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        acc = acc.addingProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                                UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
        i += 8
    }
    var s = (acc[0] + acc[1]) + (acc[2] + acc[3]) + (acc[4] + acc[5]) + (acc[6] + acc[7])
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += α·x over n floats.
@inline(__always)
private func axpyRow(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let a8 = SIMD8<Float>(repeating: alpha)
    while i + 8 <= n {
        let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: yv.addingProduct(a8, xv), as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] += alpha * x[i]; i += 1 }
}
