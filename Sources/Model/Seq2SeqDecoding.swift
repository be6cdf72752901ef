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
    /// Per row, for the cached-attention kernel: where its self-attention cache starts and how many positions
    /// it sees; the same for its sentence's cross-attention keys.
    var selfOffsets: [Int], crossOffsets: [Int]
    var selfLengths: [Int32], crossLengths: [Int32]
    let C: Int, layers: Int
    let selfKeys, selfValues: UnsafeMutablePointer<Float>    // [layers, rowCapacity blocks, stepCapacity, C]
    let crossKV: UnsafeMutablePointer<Float>                 // [layers, sentenceCapacity, sourceCapacity, 2C]
    /// The self-attention cache block of each row.
    var slots: CacheSlots
    // One step's activations, rows = rowCapacity.
    let x, ln, atty, proj: UnsafeMutablePointer<Float>    // [rows, C]
    let qkv: UnsafeMutablePointer<Float>                  // [rows, 3C] (the cross-attention query uses C of it)
    let fc, fcGelu: UnsafeMutablePointer<Float>           // [rows, 4C]
    let mean, rstd: UnsafeMutablePointer<Float>           // [rows]
    let scores: UnsafeMutablePointer<Float>               // [rows · H, scoreStride]
    let scoreStride: Int                                  // ≥ max(stepCapacity, sourceCapacity)
    /// Owns every buffer above.
    private let arena: ActivationArena

    public init(config c: Seq2SeqConfig, rows: Int, sentences: Int, sourceLength: Int, steps: Int) {
        rowCapacity = rows; sentenceCapacity = sentences
        sourceCapacity = min(sourceLength, c.maxLength); stepCapacity = min(steps, c.maxLength)
        C = c.dModel; layers = c.decoderLayers
        let a = ActivationArena()
        arena = a
        selfKeys = a.take(layers * rows * stepCapacity * C)
        selfValues = a.take(layers * rows * stepCapacity * C)
        crossKV = a.take(layers * sentences * sourceCapacity * 2 * C)
        slots = CacheSlots(blocks: rows)
        rowSentence = [Int](repeating: 0, count: rows)
        sourceLengths = [Int32](repeating: 0, count: sentences)
        selfOffsets = (0..<rows).map { $0 * min(steps, c.maxLength) * c.dModel }
        crossOffsets = [Int](repeating: 0, count: rows)
        selfLengths = [Int32](repeating: 0, count: rows)
        crossLengths = [Int32](repeating: 0, count: rows)
        scoreStride = (max(stepCapacity, sourceCapacity) + 15) / 16 * 16
        x = a.take(rows * C); ln = a.take(rows * C); atty = a.take(rows * C); proj = a.take(rows * C)
        qkv = a.take(rows * 3 * C)
        fc = a.take(rows * 4 * C); fcGelu = a.take(rows * 4 * C)
        mean = a.take(rows); rstd = a.take(rows)
        scores = a.take(rows * c.heads * scoreStride)
    }

    /// Row r's cached self-attention key (value) at step t of layer l.
    func selfKey(_ l: Int, _ r: Int, _ t: Int) -> UnsafeMutablePointer<Float> { selfKeys + ((l * rowCapacity + slots.slot[r]) * stepCapacity + t) * C }
    func selfValue(_ l: Int, _ r: Int, _ t: Int) -> UnsafeMutablePointer<Float> { selfValues + ((l * rowCapacity + slots.slot[r]) * stepCapacity + t) * C }
    /// Layer l's self-attention keys (values), which `selfOffsets` index.
    func selfKeyBase(_ l: Int) -> UnsafeMutablePointer<Float> { selfKeys + l * rowCapacity * stepCapacity * C }
    func selfValueBase(_ l: Int) -> UnsafeMutablePointer<Float> { selfValues + l * rowCapacity * stepCapacity * C }
    func cross(_ l: Int, _ s: Int) -> UnsafeMutablePointer<Float> { crossKV + (l * sentenceCapacity + s) * sourceCapacity * 2 * C }

    /// Row i takes the cached self-attention keys and values of row origins[i]: its block, or, for an
    /// origin's second and later children, a copy of the filled positions.
    func reorder(origins: [Int]) {
        let copies = slots.reorder(origins: origins)
        copyCacheBlocks([selfKeys, selfValues], layers: layers, blocks: rowCapacity, span: stepCapacity * C,
                        filled: length * C, copies: copies)
        updateOffsets()
    }

    /// Points each row's self-attention offset at its block.
    func updateOffsets() { for r in 0..<rowCapacity { selfOffsets[r] = slots.slot[r] * stepCapacity * C } }
}

/// The model's matrices prepared for inference at one compute type: packed once (FP32) or quantised
/// (int8) when a translator is made, so no product repacks a weight. A nil type keeps them unpacked,
/// through `sgemm` at the pool's precision: the weights of a model in training change between validations.
public final class Seq2SeqInferenceWeights: @unchecked Sendable {
    public let computeType: ComputeType?
    struct EncoderLayer { let attention: AttentionMatrices; let mlp: MLPMatrices }
    struct Layer { let qkv, proj, crossQ, crossKV, crossProj, fc, mlpProj: InferenceMatrix }
    let encoder: [EncoderLayer]
    let layers: [Layer]
    /// The tied output projection: logits = x·sharedᵀ.
    let output: InferenceMatrix

    public init(model m: Seq2Seq, computeType type: ComputeType?) {
        computeType = type
        let C = m.config.dModel
        encoder = m.P.encoder.map { w in
            EncoderLayer(attention: AttentionMatrices(type, w.attention, C: C), mlp: MLPMatrices(type, w.mlp, C: C))
        }
        layers = m.P.decoder.map { w in
            Layer(qkv: InferenceMatrix(type, weight: w.attention.qkvw, ldw: 3 * C, k: C, n: 3 * C),
                  proj: InferenceMatrix(type, weight: w.attention.projw, ldw: C, k: C, n: C),
                  crossQ: InferenceMatrix(type, weight: w.cross.qw, ldw: C, k: C, n: C),
                  crossKV: InferenceMatrix(type, weight: w.cross.kvw, ldw: 2 * C, k: C, n: 2 * C),
                  crossProj: InferenceMatrix(type, weight: w.cross.projw, ldw: C, k: C, n: C),
                  fc: InferenceMatrix(type, weight: w.mlp.fcw, ldw: 4 * C, k: C, n: 4 * C),
                  mlpProj: InferenceMatrix(type, weight: w.mlp.projw, ldw: C, k: 4 * C, n: C))
        }
        output = InferenceMatrix(type, weight: m.P.shared, ldw: C, k: C, n: m.config.vocabSize, transposed: true)
    }
}

extension Seq2Seq {
    /// Encodes `sources` (token ids, each ending in EOS, as in training) and fills the state's cross-attention
    /// keys and values; the state is then ready for the first `decodeStep`.
    public func beginDecoding(_ st: Seq2SeqDecoderState, sources: [[Int32]], weights: Seq2SeqInferenceWeights? = nil) {
        let W = weights ?? unpackedInferenceWeights
        let S = sources.count, C = config.dModel
        precondition(S >= 1 && S <= st.sentenceCapacity)
        let Ts = sources.map(\.count).max()!
        precondition(Ts >= 1 && Ts <= st.sourceCapacity, "source longer than the decoder state's capacity")
        var src = [Int32](repeating: 0, count: S * Ts), lengths = [Int32](repeating: 0, count: S)
        for (s, ids) in sources.enumerated() {
            for (t, id) in ids.enumerated() { src[s * Ts + t] = id }
            lengths[s] = Int32(ids.count)
        }
        // Sized for the state's capacity, not this batch: one allocation serves every batch the state holds.
        let a = activations(B: st.sentenceCapacity, Ts: st.sourceCapacity, Tt: 1)
        encoderForward(a, src: src, srcLengths: lengths, B: S, Ts: Ts, training: false, dropoutSeed: 0, inference: W.encoder)
        for l in 0..<config.decoderLayers {
            let b = P.decoder[l].cross.kvb
            // The sentences' rows are Ts apart here and sourceCapacity apart in the state: one product per sentence.
            for s in 0..<S {
                W.layers[l].crossKV.forward(out: st.cross(l, s), input: a.memory + s * Ts * C, bias: b, rows: Ts, pool: pool)
            }
        }
        st.sentences = S
        st.Ts = Ts
        for s in 0..<S { st.sourceLengths[s] = lengths[s] }
        st.length = 0
        st.rows = 0
        st.slots.reset()
        st.updateOffsets()
    }

    /// One decoder step for `tokens.count` hypothesis rows: row i belongs to sentence `sentences[i]`, extends
    /// row `origins[i]` of the previous step (nil on the first step, when every row starts from the empty
    /// prefix) and feeds `tokens[i]` (the decoder's start token, EOS, on the first step). Writes the
    /// next-token logits [rows, V]. Same arithmetic as the teacher-forced forward pass (a test compares them).
    /// `weights` (default: unpacked, at the pool's precision) says how the products are computed.
    public func decodeStep(_ st: Seq2SeqDecoderState, sentences: [Int], origins: [Int]?, tokens: [Int32],
                           logits: UnsafeMutablePointer<Float>, weights: Seq2SeqInferenceWeights? = nil) {
        let W = weights ?? unpackedInferenceWeights
        let c = config, C = c.dModel, R = tokens.count, H = c.heads, hs = c.headSize, t = st.length
        precondition(R >= 1 && R <= st.rowCapacity && sentences.count == R && t < st.stepCapacity)
        if let origins {
            precondition(origins.count == R)
            st.reorder(origins: origins)
        } else {
            precondition(t == 0, "only the first step has no origins")
        }
        st.rows = R
        for i in 0..<R {
            let sent = sentences[i]
            st.rowSentence[i] = sent
            st.selfLengths[i] = Int32(t + 1)
            st.crossOffsets[i] = sent * st.sourceCapacity * 2 * C
            st.crossLengths[i] = st.sourceLengths[sent]
        }
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
            W.layers[l].qkv.forward(out: st.qkv, input: st.ln, bias: w.attention.qkvb, rows: R, pool: pool)
            for i in 0..<R {
                st.selfKey(l, i, t).update(from: st.qkv + i * 3 * C + C, count: C)
                st.selfValue(l, i, t).update(from: st.qkv + i * 3 * C + 2 * C, count: C)
            }
            cachedAttentionForward(out: st.atty, ldo: C, q: st.qkv, ldq: 3 * C, keys: st.selfKeyBase(l), values: st.selfValueBase(l),
                                   offsets: st.selfOffsets, ldkv: C, lengths: st.selfLengths, R: R, H: H, hs: hs, scale: attnScale,
                                   scores: st.scores, ldScores: st.scoreStride, pool: pool)
            W.layers[l].proj.forward(out: st.proj, input: st.atty, bias: w.attention.projb, rows: R, pool: pool)
            add(out: st.x, st.x, st.proj, count: R * C, pool: pool)
            // Cross-attention over the row's sentence.
            layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: w.cross.lnw, bias: w.cross.lnb, N: R, C: C, pool: pool)
            W.layers[l].crossQ.forward(out: st.qkv, input: st.ln, bias: w.cross.qb, rows: R, pool: pool)
            let kv = st.cross(l, 0)
            cachedAttentionForward(out: st.atty, ldo: C, q: st.qkv, ldq: C, keys: kv, values: kv + C,
                                   offsets: st.crossOffsets, ldkv: 2 * C, lengths: st.crossLengths, R: R, H: H, hs: hs, scale: attnScale,
                                   scores: st.scores, ldScores: st.scoreStride, pool: pool)
            W.layers[l].crossProj.forward(out: st.proj, input: st.atty, bias: w.cross.projb, rows: R, pool: pool)
            add(out: st.x, st.x, st.proj, count: R * C, pool: pool)
            // MLP.
            layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: w.mlp.lnw, bias: w.mlp.lnb, N: R, C: C, pool: pool)
            W.layers[l].fc.forward(out: st.fc, input: st.ln, bias: w.mlp.fcb, geluOut: st.fcGelu, rows: R, pool: pool)
            W.layers[l].mlpProj.forward(out: st.proj, input: st.fcGelu, bias: w.mlp.projb, rows: R, pool: pool)
            add(out: st.x, st.x, st.proj, count: R * C, pool: pool)
        }
        layerNormForward(out: st.ln, mean: st.mean, rstd: st.rstd, input: st.x, weight: P.decLnfW, bias: P.decLnfB, N: R, C: C, pool: pool)
        W.output.forward(out: logits, input: st.ln, bias: nil, rows: R, pool: pool)
        st.length += 1
    }
}
