import Foundation
import Kernels

/// An encoder–decoder transformer over preallocated arenas, built from the same sublayers and kernels as
/// the decoder-only `GPT` (see `Seq2SeqConfig` for the architecture choices). Batches are right-padded:
/// source padding is masked as attention keys through per-sequence lengths (fused into the softmax, like the
/// causal mask), target padding is ignored by the loss (targets = ignore index). Because padding only ever
/// sits after the real tokens, no real position depends on a padded one, and padded rows get exactly zero
/// gradient.
public final class Seq2Seq {
    public let config: Seq2SeqConfig
    public let layout: ParameterLayout
    public let params: FloatArena
    public let grads: FloatArena
    public let pool: ThreadPool
    /// Sinusoidal positions [maxLength, C] (`config.positions` says which table).
    let positions: FloatArena
    var acts: Seq2SeqActivations? = nil
    /// The decoder's weights as they are (their pointers never change), for decoding without prepared weights.
    lazy var unpackedInferenceWeights = Seq2SeqInferenceWeights(model: self, computeType: nil)
    private(set) var P: Views! = nil
    private(set) var G: Views! = nil
    /// √d: embeddings are scaled up to the positions' magnitude (and the tied output sees them unscaled).
    var embedScale: Float { Float(config.dModel).squareRoot() }

    struct EncoderLayer { let attention: AttentionWeights; let mlp: MLPWeights }
    struct DecoderLayer { let attention: AttentionWeights; let cross: CrossAttentionWeights; let mlp: MLPWeights }

    struct Views {
        let shared, encLnfW, encLnfB, decLnfW, decLnfB: UnsafeMutablePointer<Float>
        let encoder: [EncoderLayer]
        let decoder: [DecoderLayer]
        init(_ m: Seq2Seq, _ arena: FloatArena) {
            let p = { (n: String) in arena.base + m.layout[n].offset }
            shared = p("shared.weight")
            encLnfW = p("encoder.ln_f.weight"); encLnfB = p("encoder.ln_f.bias")
            decLnfW = p("decoder.ln_f.weight"); decLnfB = p("decoder.ln_f.bias")
            func attention(_ pre: String) -> AttentionWeights {
                AttentionWeights(lnw: p(pre + "ln_1.weight"), lnb: p(pre + "ln_1.bias"), qkvw: p(pre + "attn.c_attn.weight"),
                                 qkvb: p(pre + "attn.c_attn.bias"), projw: p(pre + "attn.c_proj.weight"), projb: p(pre + "attn.c_proj.bias"))
            }
            func mlp(_ pre: String) -> MLPWeights {
                MLPWeights(lnw: p(pre + "ln_2.weight"), lnb: p(pre + "ln_2.bias"), fcw: p(pre + "mlp.c_fc.weight"),
                           fcb: p(pre + "mlp.c_fc.bias"), projw: p(pre + "mlp.c_proj.weight"), projb: p(pre + "mlp.c_proj.bias"))
            }
            encoder = (0..<m.config.encoderLayers).map { l in
                let pre = "encoder.h.\(l)."
                return EncoderLayer(attention: attention(pre), mlp: mlp(pre))
            }
            decoder = (0..<m.config.decoderLayers).map { l in
                let pre = "decoder.h.\(l)."
                let cross = CrossAttentionWeights(lnw: p(pre + "ln_cross.weight"), lnb: p(pre + "ln_cross.bias"),
                                                  qw: p(pre + "cross.q.weight"), qb: p(pre + "cross.q.bias"),
                                                  kvw: p(pre + "cross.kv.weight"), kvb: p(pre + "cross.kv.bias"),
                                                  projw: p(pre + "cross.c_proj.weight"), projb: p(pre + "cross.c_proj.bias"))
                return DecoderLayer(attention: attention(pre), cross: cross, mlp: mlp(pre))
            }
        }
    }

    public init(config: Seq2SeqConfig, pool: ThreadPool = .shared) {
        precondition(config.problem == nil, config.problem ?? "")
        self.config = config
        self.pool = pool
        layout = Seq2SeqLayout.make(config)
        params = FloatArena(count: layout.count)
        grads = FloatArena(count: layout.count)
        let C = config.dModel
        positions = FloatArena(count: config.maxLength * C)
        let table = config.positions.table(rows: config.maxLength, d: C)
        positions.base.update(from: table, count: table.count)
        P = Views(self, params)
        G = Views(self, grads)
    }

    /// Embeddings N(0, d^-1/2) (unit variance after the √d scale, as in fairseq), other matrices N(0, 0.02)
    /// with residual output projections scaled by 1/√(2·layers) (GPT-2), zero biases, unit LayerNorm gains.
    public func initialize(seed: UInt64) {
        let residualScale = 1 / Float(2 * (config.encoderLayers + config.decoderLayers)).squareRoot()
        let embedStd = 1 / embedScale
        initializeParameters(params, layout: layout, seed: seed,
                             isNormGain: { $0.name.contains(".ln_") && $0.name.hasSuffix(".weight") },
                             std: { ($0.name == "shared.weight" ? embedStd : 0.02) * ($0.name.hasSuffix("c_proj.weight") ? residualScale : 1) })
    }

    /// The activation buffers, grown (never shrunk) to hold a batch of this shape.
    func activations(B: Int, Ts: Int, Tt: Int) -> Seq2SeqActivations {
        let need = Seq2SeqActivations.Capacity(B: B, Ts: Ts, Tt: Tt, H: config.heads)
        if let a = acts, a.capacity.holds(need) { return a }
        let cap = acts.map { $0.capacity.union(need) } ?? need
        acts = nil   // free the old buffers first: peak memory is one set
        let a = Seq2SeqActivations(config: config, capacity: cap)
        acts = a
        return a
    }

    /// Allocates buffers that hold every one of these batch shapes (B, Ts, Tt) up front, so no training step
    /// allocates.
    public func reserve(shapes: [(Int, Int, Int)]) {
        guard let first = shapes.first else { return }
        var cap = Seq2SeqActivations.Capacity(B: first.0, Ts: first.1, Tt: first.2, H: config.heads)
        for (B, Ts, Tt) in shapes { cap = cap.union(.init(B: B, Ts: Ts, Tt: Tt, H: config.heads)) }
        if let a = acts, a.capacity.holds(cap) { return }
        if let a = acts { cap = cap.union(a.capacity) }
        acts = nil
        acts = Seq2SeqActivations(config: config, capacity: cap)
    }

    // MARK: - Forward

    /// out[b, t] = √d·E[ids[b, t]] + PE[t], then embedding dropout.
    private func embed(_ out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, B: Int, T: Int, dropout: DropoutSite) {
        let C = config.dModel
        embeddingForward(out: out, ids: ids, table: P.shared, N: B * T, C: C, pool: pool)
        for b in 0..<B { scaledAdd(out: out + b * T * C, alpha: embedScale, out + b * T * C, positions.base, count: T * C, pool: pool) }
        if dropout.p > 0 { dropoutForward(out: out, input: out, count: B * T * C, p: dropout.p, seed: dropout.seed, pool: pool) }
    }

    /// Backward of `embed`: E[ids] += √d·(dropout-masked dout). Uses `scratch` [B·T, C].
    private func embedBackward(dout: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, B: Int, T: Int, dropout: DropoutSite,
                               scratch: UnsafeMutablePointer<Float>) {
        let C = config.dModel
        let d = branchGradient(dout, count: B * T * C, site: dropout, scratch: scratch, pool: pool)
        scaledAdd(out: scratch, alpha: embedScale, d, nil, count: B * T * C, pool: pool)
        embeddingBackward(dtable: G.shared, dout: scratch, ids: ids, N: B * T, C: C, pool: pool)
    }

    /// The encoder: leaves its final LayerNorm output (the decoder's memory) in `a.memory`.
    func encoderForward(_ a: Seq2SeqActivations, src: UnsafePointer<Int32>, srcLengths: UnsafePointer<Int32>,
                        B: Int, Ts: Int, training: Bool, dropoutSeed: UInt64,
                        inference: [Seq2SeqInferenceWeights.EncoderLayer]? = nil) {
        let c = config, C = c.dModel, N = B * Ts, H = c.heads
        let drop = training ? c.dropout : 0
        embed(a.encEmbedded, ids: src, B: B, T: Ts, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 0))
        var x = UnsafePointer(a.encEmbedded)
        for l in 0..<c.encoderLayers {
            let w = P.encoder[l]
            selfAttentionForward(w.attention, a.encAttention[l], x: x, B: B, T: Ts, C: C, H: H, causal: false,
                                 keyLengths: srcLengths, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1 + 2 * l), pool: pool,
                                 prepared: inference?[l].attention)
            mlpForward(w.mlp, a.encMLP[l], x: a.encAttention[l].out, N: N, C: C,
                       dropout: DropoutSite(p: drop, base: dropoutSeed, site: 2 + 2 * l), pool: pool,
                       prepared: inference?[l].mlp)
            x = UnsafePointer(a.encMLP[l].out)
        }
        layerNormForward(out: a.memory, mean: a.memoryMean, rstd: a.memoryRstd, input: x, weight: P.encLnfW, bias: P.encLnfB,
                         N: N, C: C, pool: pool)
    }

    /// The decoder under teacher forcing: leaves its final LayerNorm output in `a.lnf`.
    func decoderForward(_ a: Seq2SeqActivations, tgtIn: UnsafePointer<Int32>, srcLengths: UnsafePointer<Int32>,
                        B: Int, Ts: Int, Tt: Int, training: Bool, dropoutSeed: UInt64) {
        let c = config, C = c.dModel, N = B * Tt, H = c.heads
        let drop = training ? c.dropout : 0
        embed(a.decEmbedded, ids: tgtIn, B: B, T: Tt, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1000))
        var x = UnsafePointer(a.decEmbedded)
        for l in 0..<c.decoderLayers {
            let w = P.decoder[l]
            selfAttentionForward(w.attention, a.decAttention[l], x: x, B: B, T: Tt, C: C, H: H, causal: true,
                                 keyLengths: nil, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1001 + 3 * l), pool: pool)
            crossAttentionForward(w.cross, a.decCross[l], x: a.decAttention[l].out, memory: a.memory, B: B, Tq: Tt, Tk: Ts,
                                  C: C, H: H, keyLengths: srcLengths,
                                  dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1002 + 3 * l), pool: pool)
            mlpForward(w.mlp, a.decMLP[l], x: a.decCross[l].out, N: N, C: C,
                       dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1003 + 3 * l), pool: pool)
            x = UnsafePointer(a.decMLP[l].out)
        }
        layerNormForward(out: a.lnf, mean: a.lnfMean, rstd: a.lnfRstd, input: x, weight: P.decLnfW, bias: P.decLnfB,
                         N: N, C: C, pool: pool)
    }

    /// Loss (and, with `gradScale`, the gradient into `a.dlnf` and the tied table) over the target rows.
    func head(_ a: Seq2SeqActivations, targets: UnsafePointer<Int32>, rows: Int, loss: LossOptions, gradScale: Float?,
              rowConfidence: UnsafeMutablePointer<Float>?, inspect: LogitsInspector? = nil) -> CrossEntropyStats {
        fusedOutputHead(hidden: a.lnf, dhidden: a.dlnf, rows: rows, C: config.dModel, V: config.vocabSize,
                        table: P.shared, dtable: G.shared, logits: a.logits, blockRows: a.headRows, targets: targets,
                        loss: loss, gradScale: gradScale, rowConfidence: rowConfidence, inspect: inspect, pool: pool)
    }

    /// Teacher-forced loss and accuracy without gradients (validation, evaluation). Dropout off.
    /// src [B, Ts] and tgtIn/targets [B, Tt] are right-padded; targets hold the ignore index at padding.
    public func evaluate(src: UnsafePointer<Int32>, srcLengths: UnsafePointer<Int32>, tgtIn: UnsafePointer<Int32>,
                         targets: UnsafePointer<Int32>, B: Int, Ts: Int, Tt: Int, loss: LossOptions = LossOptions(),
                         rowConfidence: UnsafeMutablePointer<Float>? = nil, inspect: LogitsInspector? = nil) -> CrossEntropyStats {
        let a = activations(B: B, Ts: Ts, Tt: Tt)
        encoderForward(a, src: src, srcLengths: srcLengths, B: B, Ts: Ts, training: false, dropoutSeed: 0)
        decoderForward(a, tgtIn: tgtIn, srcLengths: srcLengths, B: B, Ts: Ts, Tt: Tt, training: false, dropoutSeed: 0)
        return head(a, targets: targets, rows: B * Tt, loss: loss, gradScale: nil, rowConfidence: rowConfidence, inspect: inspect)
    }

    /// Full logits [B·Tt, V] under teacher forcing (tests).
    public func logits(src: UnsafePointer<Int32>, srcLengths: UnsafePointer<Int32>, tgtIn: UnsafePointer<Int32>,
                       B: Int, Ts: Int, Tt: Int, into out: UnsafeMutablePointer<Float>) {
        let a = activations(B: B, Ts: Ts, Tt: Tt)
        encoderForward(a, src: src, srcLengths: srcLengths, B: B, Ts: Ts, training: false, dropoutSeed: 0)
        decoderForward(a, tgtIn: tgtIn, srcLengths: srcLengths, B: B, Ts: Ts, Tt: Tt, training: false, dropoutSeed: 0)
        let C = config.dModel, V = config.vocabSize
        sgemm(transA: false, transB: true, m: B * Tt, n: V, k: C, alpha: 1, a: a.lnf, lda: C, b: P.shared, ldb: C,
              beta: 0, c: out, ldc: V, pool: pool)
    }

    // MARK: - Training step

    /// Forward, loss and backward for one batch: gradients are *added* to `grads`, scaled by `gradScale`.
    public func trainStep(src: UnsafePointer<Int32>, srcLengths: UnsafePointer<Int32>, tgtIn: UnsafePointer<Int32>,
                          targets: UnsafePointer<Int32>, B: Int, Ts: Int, Tt: Int, loss: LossOptions,
                          gradScale: Float, dropoutSeed: UInt64) -> CrossEntropyStats {
        let a = activations(B: B, Ts: Ts, Tt: Tt)
        encoderForward(a, src: src, srcLengths: srcLengths, B: B, Ts: Ts, training: true, dropoutSeed: dropoutSeed)
        decoderForward(a, tgtIn: tgtIn, srcLengths: srcLengths, B: B, Ts: Ts, Tt: Tt, training: true, dropoutSeed: dropoutSeed)
        let stats = head(a, targets: targets, rows: B * Tt, loss: loss, gradScale: gradScale, rowConfidence: nil)
        backward(a, src: src, srcLengths: srcLengths, tgtIn: tgtIn, B: B, Ts: Ts, Tt: Tt, dropoutSeed: dropoutSeed)
        return stats
    }

    /// The forward pass read bottom-up: decoder (from dlnf, left by the head), collecting the encoder output's
    /// gradient from every cross-attention, then the encoder.
    func backward(_ a: Seq2SeqActivations, src: UnsafePointer<Int32>, srcLengths: UnsafePointer<Int32>,
                  tgtIn: UnsafePointer<Int32>, B: Int, Ts: Int, Tt: Int, dropoutSeed: UInt64) {
        let c = config, C = c.dModel, H = c.heads, Nt = B * Tt, Ns = B * Ts
        let drop = c.dropout
        let s = a.scratch
        // Decoder.
        a.dres.update(repeating: 0, count: Nt * C)
        a.dmemory.update(repeating: 0, count: Ns * C)
        let lastDec = UnsafePointer(a.decMLP[c.decoderLayers - 1].out)
        layerNormBackward(dinput: a.dres, dweight: G.decLnfW, dbias: G.decLnfB, dout: a.dlnf, input: lastDec, weight: P.decLnfW,
                          mean: a.lnfMean, rstd: a.lnfRstd, N: Nt, C: C, pool: pool)
        for l in stride(from: c.decoderLayers - 1, through: 0, by: -1) {
            let w = P.decoder[l], dw = G.decoder[l]
            let x = l == 0 ? UnsafePointer(a.decEmbedded) : UnsafePointer(a.decMLP[l - 1].out)
            mlpBackward(w.mlp, dw.mlp, a.decMLP[l], x: a.decCross[l].out, dres: a.dres, s: s, N: Nt, C: C,
                        dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1003 + 3 * l), pool: pool)
            crossAttentionBackward(w.cross, dw.cross, a.decCross[l], x: a.decAttention[l].out, memory: a.memory,
                                   dres: a.dres, dmemory: a.dmemory, dkv: a.dkv, s: s, B: B, Tq: Tt, Tk: Ts, C: C, H: H,
                                   keyLengths: srcLengths, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1002 + 3 * l), pool: pool)
            selfAttentionBackward(w.attention, dw.attention, a.decAttention[l], x: x, dres: a.dres, s: s, B: B, T: Tt, C: C, H: H,
                                  causal: true, keyLengths: nil, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1001 + 3 * l), pool: pool)
        }
        embedBackward(dout: a.dres, ids: tgtIn, B: B, T: Tt, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1000), scratch: s.dtmp)
        // Encoder, from the memory's gradient.
        a.dres.update(repeating: 0, count: Ns * C)
        let lastEnc = UnsafePointer(a.encMLP[c.encoderLayers - 1].out)
        layerNormBackward(dinput: a.dres, dweight: G.encLnfW, dbias: G.encLnfB, dout: a.dmemory, input: lastEnc, weight: P.encLnfW,
                          mean: a.memoryMean, rstd: a.memoryRstd, N: Ns, C: C, pool: pool)
        for l in stride(from: c.encoderLayers - 1, through: 0, by: -1) {
            let w = P.encoder[l], dw = G.encoder[l]
            let x = l == 0 ? UnsafePointer(a.encEmbedded) : UnsafePointer(a.encMLP[l - 1].out)
            mlpBackward(w.mlp, dw.mlp, a.encMLP[l], x: a.encAttention[l].out, dres: a.dres, s: s, N: Ns, C: C,
                        dropout: DropoutSite(p: drop, base: dropoutSeed, site: 2 + 2 * l), pool: pool)
            selfAttentionBackward(w.attention, dw.attention, a.encAttention[l], x: x, dres: a.dres, s: s, B: B, T: Ts, C: C, H: H,
                                  causal: false, keyLengths: srcLengths, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1 + 2 * l), pool: pool)
        }
        embedBackward(dout: a.dres, ids: src, B: B, T: Ts, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 0), scratch: s.dtmp)
    }
}

/// Every buffer a translation step uses, sized for a capacity (rows of source and target, attention
/// matrices) rather than one batch shape, since length-bucketed batches change shape every step. Every buffer
/// comes from one `ActivationArena`, allocated once when the capacity grows.
final class Seq2SeqActivations {
    struct Capacity: Equatable {
        var srcRows: Int, tgtRows: Int, encProbs: Int, decProbs: Int, crossProbs: Int
        init(B: Int, Ts: Int, Tt: Int, H: Int) {
            srcRows = B * Ts; tgtRows = B * Tt
            encProbs = B * H * Ts * Ts; decProbs = B * H * Tt * Tt; crossProbs = B * H * Tt * Ts
        }
        func holds(_ o: Capacity) -> Bool {
            srcRows >= o.srcRows && tgtRows >= o.tgtRows && encProbs >= o.encProbs && decProbs >= o.decProbs && crossProbs >= o.crossProbs
        }
        func union(_ o: Capacity) -> Capacity {
            var c = self
            c.srcRows = max(srcRows, o.srcRows); c.tgtRows = max(tgtRows, o.tgtRows)
            c.encProbs = max(encProbs, o.encProbs); c.decProbs = max(decProbs, o.decProbs); c.crossProbs = max(crossProbs, o.crossProbs)
            return c
        }
    }

    let capacity: Capacity
    /// Owns every buffer below.
    private let arena: ActivationArena
    let encEmbedded, memory, memoryMean, memoryRstd: UnsafeMutablePointer<Float>   // [Ns, C], [Ns, C], [Ns], [Ns]
    let encAttention: [AttentionActivations]
    let encMLP: [MLPActivations]
    let decEmbedded, lnf, lnfMean, lnfRstd: UnsafeMutablePointer<Float>            // [Nt, C], [Nt, C], [Nt], [Nt]
    let decAttention, decCross: [AttentionActivations]
    let decMLP: [MLPActivations]
    let logits: UnsafeMutablePointer<Float>                                         // [headRows, V]
    let headRows: Int
    // Backward.
    let dres: UnsafeMutablePointer<Float>       // [max(Ns, Nt), C]
    let dlnf: UnsafeMutablePointer<Float>       // [Nt, C]
    let dmemory: UnsafeMutablePointer<Float>    // [Ns, C]
    let dkv: UnsafeMutablePointer<Float>        // [Ns, 2C]
    let scratch: SublayerScratch                // rows max(Ns, Nt)

    init(config c: Seq2SeqConfig, capacity cap: Capacity) {
        capacity = cap
        let C = c.dModel, Ns = cap.srcRows, Nt = cap.tgtRows, Nmax = max(Ns, Nt)
        let arena = ActivationArena()
        self.arena = arena
        func buf(_ n: Int) -> UnsafeMutablePointer<Float> { arena.take(n) }
        func attention(rows N: Int, probs: Int, crossRows: Int?) -> AttentionActivations {
            AttentionActivations(ln: buf(N * C), mean: buf(N), rstd: buf(N), qkv: buf(N * (crossRows == nil ? 3 : 1) * C),
                                 kv: crossRows.map { buf($0 * 2 * C) }, atty: buf(N * C), probs: buf(probs),
                                 proj: buf(N * C), out: buf(N * C))
        }
        func mlp(rows N: Int) -> MLPActivations {
            MLPActivations(ln: buf(N * C), mean: buf(N), rstd: buf(N), fch: buf(N * 4 * C), fchGelu: buf(N * 4 * C),
                           proj: buf(N * C), out: buf(N * C))
        }
        encEmbedded = buf(Ns * C); memory = buf(Ns * C); memoryMean = buf(Ns); memoryRstd = buf(Ns)
        encAttention = (0..<c.encoderLayers).map { _ in attention(rows: Ns, probs: cap.encProbs, crossRows: nil) }
        encMLP = (0..<c.encoderLayers).map { _ in mlp(rows: Ns) }
        decEmbedded = buf(Nt * C); lnf = buf(Nt * C); lnfMean = buf(Nt); lnfRstd = buf(Nt)
        decAttention = (0..<c.decoderLayers).map { _ in attention(rows: Nt, probs: cap.decProbs, crossRows: nil) }
        decCross = (0..<c.decoderLayers).map { _ in attention(rows: Nt, probs: cap.crossProbs, crossRows: Ns) }
        decMLP = (0..<c.decoderLayers).map { _ in mlp(rows: Nt) }
        headRows = min(Nt, 256)
        logits = buf(headRows * c.vocabSize)
        dres = buf(Nmax * C); dlnf = buf(Nt * C); dmemory = buf(Ns * C); dkv = buf(Ns * 2 * C)
        scratch = SublayerScratch(dtmp: buf(Nmax * C), datty: buf(Nmax * C), dqkv: buf(Nmax * 3 * C),
                                  d4c2: buf(Nmax * 4 * C))
    }
}
