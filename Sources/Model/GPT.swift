import Foundation
import Kernels

/// A GPT decoder over preallocated arenas: parameters and gradients in flat buffers with named views
/// (`ParameterLayout`), activations in one buffer sized for a batch shape. Forward and backward are explicit
/// lists of kernel calls (backward is forward read bottom-up); a training step allocates nothing once the
/// arenas exist.
public final class GPT {
    public let config: GPTConfig
    public let layout: ParameterLayout
    public let params: FloatArena
    public let grads: FloatArena
    public let pool: ThreadPool
    private var acts: Activations? = nil
    /// Named views resolved once, so a step does no name lookups (or string building) at all.
    private var paramViews: Views! = nil
    private var gradViews: Views! = nil

    /// How self-attention keeps what its backward needs (the same values either way, to float rounding).
    public let attention: AttentionAlgorithm

    /// `attention` nil picks by context (`AttentionAlgorithm.automatic`).
    public init(config: GPTConfig, pool: ThreadPool = .shared, attention: AttentionAlgorithm? = nil) {
        precondition(config.problem == nil, config.problem ?? "")
        self.config = config
        self.pool = pool
        self.attention = attention ?? .automatic(context: config.context)
        layout = ParameterLayout(config)
        params = FloatArena(count: layout.count)
        grads = FloatArena(count: layout.count)
        paramViews = Views(self, params)
        gradViews = Views(self, grads)
    }

    // MARK: - Parameter views

    public func pointer(_ name: String, in arena: FloatArena) -> UnsafeMutablePointer<Float> {
        arena.base + layout[name].offset
    }

    struct Block {
        let ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb: UnsafeMutablePointer<Float>
        var attention: AttentionWeights { AttentionWeights(lnw: ln1w, lnb: ln1b, qkvw: qkvw, qkvb: qkvb, projw: projw, projb: projb) }
        var mlp: MLPWeights { MLPWeights(lnw: ln2w, lnb: ln2b, fcw: fcw, fcb: fcb, projw: fcprojw, projb: fcprojb) }
    }

    /// Every tensor of one arena (parameters or gradients) as a pointer.
    struct Views {
        let wte, wpe, lnfw, lnfb: UnsafeMutablePointer<Float>
        let blocks: [Block]
        init(_ m: GPT, _ a: FloatArena) {
            wte = m.pointer("wte.weight", in: a); wpe = m.pointer("wpe.weight", in: a)
            lnfw = m.pointer("ln_f.weight", in: a); lnfb = m.pointer("ln_f.bias", in: a)
            blocks = (0..<m.config.layers).map { l in
                let p = { (n: String) in m.pointer("h.\(l).\(n)", in: a) }
                return Block(ln1w: p("ln_1.weight"), ln1b: p("ln_1.bias"), qkvw: p("attn.c_attn.weight"), qkvb: p("attn.c_attn.bias"),
                             projw: p("attn.c_proj.weight"), projb: p("attn.c_proj.bias"), ln2w: p("ln_2.weight"), ln2b: p("ln_2.bias"),
                             fcw: p("mlp.c_fc.weight"), fcb: p("mlp.c_fc.bias"), fcprojw: p("mlp.c_proj.weight"), fcprojb: p("mlp.c_proj.bias"))
            }
        }
    }

    func block(_ l: Int, _ a: FloatArena) -> Block { (a === params ? paramViews : gradViews).blocks[l] }
    var P: Views { paramViews }
    var G: Views { gradViews }

    /// GPT-2's initialisation: N(0, 0.02) for matrices and token embeddings, N(0, 0.01) for positions,
    /// residual output projections scaled by 1/√(2·layers), zero biases, unit LayerNorm gains.
    public func initialize(seed: UInt64) {
        let residualScale = 1 / Float(2 * config.layers).squareRoot()
        initializeParameters(params, layout: layout, seed: seed,
                             isNormGain: { t in t.name.hasSuffix("ln_1.weight") || t.name.hasSuffix("ln_2.weight") || t.name == "ln_f.weight" },
                             std: { ($0.name == "wpe.weight" ? 0.01 : 0.02) * ($0.name.hasSuffix("c_proj.weight") ? residualScale : 1) })
    }

    // MARK: - Activations

    /// Every activation a training step keeps, for one batch shape.
    struct Activations {
        let B: Int, T: Int
        /// Owns every buffer below.
        let arena: ActivationArena
        let encoded: UnsafeMutablePointer<Float>       // [B, T, C]
        /// Per layer: the attention sublayer (its output, res1, is the MLP's input) and the MLP (output res2).
        let layers: [(attention: AttentionActivations, mlp: MLPActivations)]
        let lnf: UnsafeMutablePointer<Float>           // [B, T, C]
        let lnfMean, lnfRstd: UnsafeMutablePointer<Float>   // [B, T]
        let logits: UnsafeMutablePointer<Float>        // [headRows, V]
        let headRows: Int
        // Backward scratch, reused layer after layer.
        let dres, dlnf: UnsafeMutablePointer<Float>   // [B, T, C]
        let scratch: SublayerScratch                   // rows B·T

        func attention(_ l: Int) -> AttentionActivations { layers[l].attention }
        func mlp(_ l: Int) -> MLPActivations { layers[l].mlp }
        func res1(_ l: Int) -> UnsafeMutablePointer<Float> { layers[l].attention.out }
        func res2(_ l: Int) -> UnsafeMutablePointer<Float> { layers[l].mlp.out }

        init(config c: GPTConfig, B: Int, T: Int, attention: AttentionAlgorithm) {
            self.B = B; self.T = T
            let N = B * T, C = c.dModel, H = c.heads, V = c.vocabSize
            let a = ActivationArena()
            arena = a
            encoded = a.take(N * C)
            // The projections' outputs (before the residual add) and GELU(fch) are read only in forward, right
            // after they are written: one buffer each serves every layer (GELU(fch) shares the backward's [N, 4C]
            // scratch; mlpBackward recomputes it). That is about a third of the activation memory.
            let proj = a.take(N * C)                    // [N, C]
            let d4c2 = a.take(N * 4 * C)                // [N, 4C]
            let streaming = attention == .streaming
            layers = (0..<c.layers).map { _ in
                (AttentionActivations(ln: a.take(N * C), mean: a.take(N), rstd: a.take(N), qkv: a.take(N * 3 * C), kv: nil,
                                      atty: a.take(N * C), probs: streaming ? nil : a.take(B * H * T * T),
                                      lse: streaming ? a.take(B * H * T) : nil, proj: proj, out: a.take(N * C)),
                 MLPActivations(ln: a.take(N * C), mean: a.take(N), rstd: a.take(N), fch: a.take(N * 4 * C), fchGelu: d4c2,
                                proj: proj, out: a.take(N * C)))
            }
            lnf = a.take(N * C); lnfMean = a.take(N); lnfRstd = a.take(N)
            headRows = min(N, 256)
            logits = a.take(headRows * V)
            dres = a.take(N * C); dlnf = a.take(N * C)
            scratch = SublayerScratch(dtmp: a.take(N * C), datty: a.take(N * C), dqkv: a.take(N * 3 * C), d4c2: d4c2)
        }
    }

    /// The activation arena for (B, T), allocated on first use of that shape (and kept).
    func activations(B: Int, T: Int) -> Activations {
        if let a = acts, a.B == B, a.T == T { return a }
        acts = nil   // free the old one first: peak memory is one arena
        let a = Activations(config: config, B: B, T: T, attention: attention)
        acts = a
        return a
    }

    // MARK: - Forward

    /// Runs the decoder up to the final LayerNorm. Dropout (when `training` and config.dropout > 0) draws its
    /// masks from `dropoutSeed`, so backward recomputes them.
    func forwardBody(ids: UnsafePointer<Int32>, B: Int, T: Int, training: Bool, dropoutSeed: UInt64) -> Activations {
        let c = config, C = c.dModel, N = B * T, H = c.heads
        let a = activations(B: B, T: T)
        let p = params
        let drop = training ? c.dropout : 0
        embeddingForward(out: a.encoded, ids: ids, table: P.wte, N: N, C: C, pool: pool)
        for b in 0..<B { add(out: a.encoded + b * T * C, a.encoded + b * T * C, P.wpe, count: T * C, pool: pool) }
        if drop > 0 { dropoutForward(out: a.encoded, input: a.encoded, count: N * C, p: drop, seed: DropoutSite(p: drop, base: dropoutSeed, site: 0).seed, pool: pool) }
        var residual = UnsafePointer(a.encoded)
        for l in 0..<c.layers {
            let w = block(l, p)
            selfAttentionForward(w.attention, a.attention(l), x: residual, B: B, T: T, C: C, H: H, causal: true,
                                 keyLengths: nil, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1 + 2 * l), pool: pool)
            mlpForward(w.mlp, a.mlp(l), x: a.res1(l), N: N, C: C, dropout: DropoutSite(p: drop, base: dropoutSeed, site: 2 + 2 * l), pool: pool)
            residual = UnsafePointer(a.res2(l))
        }
        layerNormForward(out: a.lnf, mean: a.lnfMean, rstd: a.lnfRstd, input: residual,
                         weight: P.lnfw, bias: P.lnfb, N: N, C: C, pool: pool)
        return a
    }

    public typealias LossOptions = Model.LossOptions

    /// Output head fused with the loss, in blocks of rows: logits = lnf·wteᵀ for a block, the fused
    /// cross-entropy (its gradient in place, when `gradScale` is set), then dlnf = dlogits·wte and
    /// dwte += dlogitsᵀ·lnf, so the B·T×V logits never exist at once.
    func head(_ a: Activations, targets: UnsafePointer<Int32>, loss: LossOptions, gradScale: Float?,
              rowConfidence: UnsafeMutablePointer<Float>?, inspect: LogitsInspector? = nil) -> CrossEntropyStats {
        fusedOutputHead(hidden: a.lnf, dhidden: a.dlnf, rows: a.B * a.T, C: config.dModel, V: config.vocabSize,
                        table: P.wte, dtable: G.wte, logits: a.logits, blockRows: a.headRows, targets: targets,
                        loss: loss, gradScale: gradScale, rowConfidence: rowConfidence, inspect: inspect, pool: pool)
    }

    /// Loss and accuracy without gradients (validation, evaluation). Dropout off.
    public func evaluate(ids: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, B: Int, T: Int,
                         loss: LossOptions = LossOptions(), rowConfidence: UnsafeMutablePointer<Float>? = nil,
                         inspect: LogitsInspector? = nil) -> CrossEntropyStats {
        let a = forwardBody(ids: ids, B: B, T: T, training: false, dropoutSeed: 0)
        return head(a, targets: targets, loss: loss, gradScale: nil, rowConfidence: rowConfidence, inspect: inspect)
    }

    /// Full logits [B·T, V] (for tests and sampling without a cache).
    public func logits(ids: UnsafePointer<Int32>, B: Int, T: Int, into out: UnsafeMutablePointer<Float>) {
        let a = forwardBody(ids: ids, B: B, T: T, training: false, dropoutSeed: 0)
        sgemm(transA: false, transB: true, m: B * T, n: config.vocabSize, k: config.dModel, alpha: 1, a: a.lnf,
              lda: config.dModel, b: P.wte, ldb: config.dModel, beta: 0, c: out,
              ldc: config.vocabSize, pool: pool)
    }

    // MARK: - Training step

    /// Forward, loss and backward for one micro-batch: gradients are *added* to `grads` (zero them once per
    /// optimizer step), scaled by `gradScale` (1 / counted targets of the whole step, for the mean loss).
    public func trainStep(ids: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, B: Int, T: Int,
                          loss: LossOptions, gradScale: Float, dropoutSeed: UInt64) -> CrossEntropyStats {
        let a = forwardBody(ids: ids, B: B, T: T, training: true, dropoutSeed: dropoutSeed)
        let stats = head(a, targets: targets, loss: loss, gradScale: gradScale, rowConfidence: nil)
        backward(a, ids: ids, dropoutSeed: dropoutSeed)
        return stats
    }

    /// The forward pass read bottom-up, from dlnf (left by `head`) to the embeddings.
    func backward(_ a: Activations, ids: UnsafePointer<Int32>, dropoutSeed: UInt64) {
        let c = config, C = c.dModel, B = a.B, T = a.T, N = B * T, H = c.heads
        let p = params, g = grads
        let drop = c.dropout
        // Final LayerNorm: dres = d(residual stream after the last block).
        a.dres.update(repeating: 0, count: N * C)
        let lastResidual = c.layers > 0 ? UnsafePointer(a.res2(c.layers - 1)) : UnsafePointer(a.encoded)
        layerNormBackward(dinput: a.dres, dweight: G.lnfw, dbias: G.lnfb,
                          dout: a.dlnf, input: lastResidual, weight: P.lnfw,
                          mean: a.lnfMean, rstd: a.lnfRstd, N: N, C: C, pool: pool)
        let scratch = a.scratch
        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let w = block(l, p), dw = block(l, g)
            let residual = l == 0 ? UnsafePointer(a.encoded) : UnsafePointer(a.res2(l - 1))
            mlpBackward(w.mlp, dw.mlp, a.mlp(l), x: a.res1(l), dres: a.dres, s: scratch, N: N, C: C,
                        dropout: DropoutSite(p: drop, base: dropoutSeed, site: 2 + 2 * l), pool: pool)
            selfAttentionBackward(w.attention, dw.attention, a.attention(l), x: residual, dres: a.dres, s: scratch,
                                  B: B, T: T, C: C, H: H, causal: true, keyLengths: nil,
                                  dropout: DropoutSite(p: drop, base: dropoutSeed, site: 1 + 2 * l), pool: pool)
        }
        // encoded = dropout(wte[ids] + wpe[t]).
        let denc = branchGradient(a.dres, count: N * C, site: DropoutSite(p: drop, base: dropoutSeed, site: 0), scratch: a.scratch.dtmp, pool: pool)
        embeddingBackward(dtable: G.wte, dout: denc, ids: ids, N: N, C: C, pool: pool)
        let dwpe = G.wpe
        for b in 0..<B { axpy(dwpe, alpha: 1, denc + b * T * C, count: T * C, pool: pool) }
    }
}

/// Sees each block of logits [rows, V] with its targets [rows] during a forward-only head.
public typealias LogitsInspector = (UnsafePointer<Float>, UnsafePointer<Int32>, Int) -> Void

/// Loss options of a step.
public struct LossOptions: Sendable {
    public var smoothing: Float
    public var style: SmoothingStyle
    /// Per-token weights for `.prior` (Σ = 1), [V].
    public var prior: [Float]?
    public var ignoreIndex: Int32
    public init(smoothing: Float = 0.1, style: SmoothingStyle = .uniform, prior: [Float]? = nil, ignoreIndex: Int32 = -100) {
        self.smoothing = smoothing; self.style = style; self.prior = prior; self.ignoreIndex = ignoreIndex
    }
}

/// The output head fused with the loss, in blocks of rows: logits = hidden·tableᵀ for a block, the fused
/// cross-entropy (its gradient in place, when `gradScale` is set), then dhidden = dlogits·table and
/// dtable += dlogitsᵀ·hidden, so the rows×V logits never exist at once. Shared by both models (their output
/// projections are tied to the embedding table).
func fusedOutputHead(hidden: UnsafePointer<Float>,              // [rows, C]
                     dhidden: UnsafeMutablePointer<Float>,      // [rows, C], overwritten when training
                     rows N: Int, C: Int, V: Int,
                     table: UnsafePointer<Float>,               // [V, C]
                     dtable: UnsafeMutablePointer<Float>,       // [V, C], accumulated into
                     logits: UnsafeMutablePointer<Float>,       // [blockRows, V] scratch
                     blockRows: Int,
                     targets: UnsafePointer<Int32>,             // [rows]
                     loss: LossOptions, gradScale: Float?,
                     rowConfidence: UnsafeMutablePointer<Float>?,   // [rows] or nil
                     inspect: LogitsInspector? = nil,
                     pool: ThreadPool) -> CrossEntropyStats {
    var stats = CrossEntropyStats()
    var r0 = 0
    while r0 < N {
        let rows = min(blockRows, N - r0)
        sgemm(transA: false, transB: true, m: rows, n: V, k: C, alpha: 1, a: hidden + r0 * C, lda: C, b: table, ldb: C,
              beta: 0, c: logits, ldc: V, pool: pool)
        stats += loss.prior.withUnsafeBufferPointerOrNil { prior in
            crossEntropy(logits: logits, targets: targets + r0, rows: rows, vocab: V, smoothing: loss.smoothing,
                         style: loss.style, prior: prior, ignoreIndex: loss.ignoreIndex, gradScale: gradScale,
                         rowConfidence: rowConfidence.map { $0 + r0 }, pool: pool)
        }
        // Without a gradient the block still holds the logits: let an evaluator look (calibration).
        if gradScale == nil, let inspect { inspect(logits, targets + r0, rows) }
        if gradScale != nil {
            sgemm(transA: false, transB: false, m: rows, n: C, k: V, alpha: 1, a: logits, lda: V, b: table, ldb: C,
                  beta: 0, c: dhidden + r0 * C, ldc: C, pool: pool)
            sgemm(transA: true, transB: false, m: V, n: C, k: rows, alpha: 1, a: logits, lda: V, b: hidden + r0 * C, ldb: C,
                  beta: 1, c: dtable, ldc: C, pool: pool)
        }
        r0 += rows
    }
    return stats
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with a pointer to the array's elements, or nil.
    func withUnsafeBufferPointerOrNil<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}

/// Seeded standard normal numbers (SplitMix64 + Box–Muller), for reproducible initialisation.
public struct GaussianRNG {
    var rng: SplitMix64
    var spare: Float? = nil
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    public mutating func uniform() -> Double { rng.uniform() }
    public mutating func next() -> Float {
        if let s = spare { spare = nil; return s }
        var u1 = uniform()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = uniform()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spare = Float(r * Foundation.sin(2 * .pi * u2))
        return Float(r * Foundation.cos(2 * .pi * u2))
    }
}
