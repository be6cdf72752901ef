import Kernels

// The three pre-LayerNorm residual sublayers every transformer here is made of, shared by the decoder-only
// model (self-attention + MLP) and the translation model (encoder: self-attention + MLP; decoder: causal
// self-attention + cross-attention + MLP). Each computes out = x + dropout(f(LayerNorm(x))), and its
// backward is the forward read bottom-up: given dres = ∂loss/∂out, it adds ∂loss/∂x into dres (the residual
// path carries dres through unchanged, the LayerNorm backward accumulates the branch's share) and
// accumulates the weight gradients.
// Dims legend: B sequences, T rows per sequence (Tq queries, Tk keys for cross-attention), N = B·T, C channels,
// H heads.

/// Weights of an attention sublayer (LayerNorm, fused q|k|v projection, output projection).
struct AttentionWeights {
    let lnw, lnb: UnsafeMutablePointer<Float>        // [C]
    let qkvw, qkvb: UnsafeMutablePointer<Float>      // [C, 3C], [3C]
    let projw, projb: UnsafeMutablePointer<Float>    // [C, C], [C]
}

/// Weights of a cross-attention sublayer: queries from the decoder, keys and values from the encoder output.
struct CrossAttentionWeights {
    let lnw, lnb: UnsafeMutablePointer<Float>        // [C]
    let qw, qb: UnsafeMutablePointer<Float>          // [C, C], [C]
    let kvw, kvb: UnsafeMutablePointer<Float>        // [C, 2C], [2C]
    let projw, projb: UnsafeMutablePointer<Float>    // [C, C], [C]
}

/// Weights of an MLP sublayer (LayerNorm, C → 4C, GELU, 4C → C).
struct MLPWeights {
    let lnw, lnb: UnsafeMutablePointer<Float>        // [C]
    let fcw, fcb: UnsafeMutablePointer<Float>        // [C, 4C], [4C]
    let projw, projb: UnsafeMutablePointer<Float>    // [4C, C], [C]
}

/// A sublayer's matrices prepared for inference (packed or quantised once; see `InferenceMatrix`).
struct AttentionMatrices {
    let qkv, proj: InferenceMatrix
    init(_ type: ComputeType?, _ w: AttentionWeights, C: Int) {
        qkv = InferenceMatrix(type, weight: w.qkvw, ldw: 3 * C, k: C, n: 3 * C)
        proj = InferenceMatrix(type, weight: w.projw, ldw: C, k: C, n: C)
    }
}
struct MLPMatrices {
    let fc, proj: InferenceMatrix
    init(_ type: ComputeType?, _ w: MLPWeights, C: Int) {
        fc = InferenceMatrix(type, weight: w.fcw, ldw: 4 * C, k: C, n: 4 * C)
        proj = InferenceMatrix(type, weight: w.projw, ldw: C, k: 4 * C, n: C)
    }
}

/// What an attention sublayer keeps for its backward pass.
struct AttentionActivations {
    let ln, mean, rstd: UnsafeMutablePointer<Float>  // [N, C], [N], [N]
    let qkv: UnsafeMutablePointer<Float>             // [N, 3C] (self) or q [Nq, C] (cross)
    let kv: UnsafeMutablePointer<Float>?             // cross only: [B·Tk, 2C]
    let atty: UnsafeMutablePointer<Float>            // [N, C]
    /// Stored attention keeps the probabilities for backward; streaming attention (`lse` set) only each row's
    /// log-sum-exp, and recomputes them.
    let probs: UnsafeMutablePointer<Float>?          // [B, H, Tq, Tk], or nil when streaming
    var lse: UnsafeMutablePointer<Float>? = nil      // [B, H, Tq] when streaming (self-attention only)
    let proj: UnsafeMutablePointer<Float>            // [N, C], forward only (may be shared between layers)
    let out: UnsafeMutablePointer<Float>             // [N, C]
}

struct MLPActivations {
    let ln, mean, rstd: UnsafeMutablePointer<Float>  // [N, C], [N], [N]
    let fch: UnsafeMutablePointer<Float>             // [N, 4C]
    let fchGelu: UnsafeMutablePointer<Float>         // [N, 4C], forward only (may be shared between layers)
    let proj: UnsafeMutablePointer<Float>            // [N, C], forward only (may be shared between layers)
    let out: UnsafeMutablePointer<Float>             // [N, C]
}

/// Backward scratch shared by all sublayers (reused layer after layer).
struct SublayerScratch {
    let dtmp, datty: UnsafeMutablePointer<Float>     // [N, C]
    let dqkv: UnsafeMutablePointer<Float>            // [N, 3C]
    let d4c2: UnsafeMutablePointer<Float>            // [N, 4C]
}

/// Where dropout applies and with what seed: each (layer, branch) site draws an independent mask.
struct DropoutSite {
    let p: Float
    let seed: UInt64
    init(p: Float, base: UInt64, site: Int) {
        self.p = p
        seed = SplitMix64.mix(base &+ UInt64(site + 1) &* 0xD1B5_4A32_D192_ED03)
    }
}

/// The gradient reaching a dropout'd branch: `dres` itself without dropout, else dres·mask/(1−p) in scratch.
func branchGradient(_ dres: UnsafeMutablePointer<Float>, count: Int, site: DropoutSite,
                    scratch: UnsafeMutablePointer<Float>, pool: ThreadPool) -> UnsafeMutablePointer<Float> {
    if site.p == 0 { return dres }
    dropoutBackward(dinput: scratch, dout: dres, count: count, p: site.p, seed: site.seed, accumulate: false, pool: pool)
    return scratch
}

// MARK: - Self-attention

/// out = x + dropout(proj(attention(qkv(LayerNorm(x))))). `causal` for decoders; `keyLengths` masks a
/// right-padded batch's padding keys (encoders).
func selfAttentionForward(_ w: AttentionWeights, _ a: AttentionActivations,
                          x: UnsafePointer<Float>,                 // [B, T, C]
                          B: Int, T: Int, C: Int, H: Int, causal: Bool,
                          keyLengths: UnsafePointer<Int32>?,       // [B] or nil
                          dropout: DropoutSite, pool: ThreadPool, prepared: AttentionMatrices? = nil) {
    let N = B * T
    layerNormForward(out: a.ln, mean: a.mean, rstd: a.rstd, input: x, weight: w.lnw, bias: w.lnb, N: N, C: C, pool: pool)
    if let prepared { prepared.qkv.forward(out: a.qkv, input: a.ln, bias: w.qkvb, rows: N, pool: pool) }
    else { linearForward(out: a.qkv, input: a.ln, weight: w.qkvw, bias: w.qkvb, N: N, In: C, Out: 3 * C, pool: pool) }
    if let lse = a.lse {
        streamingAttentionForward(out: a.atty, ldo: C, lse: lse, q: a.qkv, ldq: 3 * C, k: a.qkv + C, ldk: 3 * C,
                                  v: a.qkv + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: causal,
                                  keyLengths: keyLengths, pool: pool)
    } else {
        multiHeadAttentionForward(out: a.atty, ldo: C, probs: a.probs!, q: a.qkv, ldq: 3 * C, k: a.qkv + C, ldk: 3 * C,
                                  v: a.qkv + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: causal,
                                  keyLengths: keyLengths, pool: pool)
    }
    if let prepared { prepared.proj.forward(out: a.proj, input: a.atty, bias: w.projb, rows: N, pool: pool) }
    else { linearForward(out: a.proj, input: a.atty, weight: w.projw, bias: w.projb, N: N, In: C, Out: C, pool: pool) }
    if dropout.p > 0 { dropoutForward(out: a.proj, input: a.proj, count: N * C, p: dropout.p, seed: dropout.seed, pool: pool) }
    add(out: a.out, x, a.proj, count: N * C, pool: pool)
}

/// Backward of `selfAttentionForward`: dres (∂loss/∂out on entry) gains ∂loss/∂x through the branch.
func selfAttentionBackward(_ w: AttentionWeights, _ dw: AttentionWeights, _ a: AttentionActivations,
                           x: UnsafePointer<Float>,                // [B, T, C]
                           dres: UnsafeMutablePointer<Float>,      // [B, T, C], accumulated into
                           s: SublayerScratch, B: Int, T: Int, C: Int, H: Int, causal: Bool,
                           keyLengths: UnsafePointer<Int32>?, dropout: DropoutSite, pool: ThreadPool) {
    let N = B * T
    let dproj = branchGradient(dres, count: N * C, site: dropout, scratch: s.dtmp, pool: pool)
    linearBackward(dinput: s.datty, dweight: dw.projw, dbias: dw.projb, dout: dproj, input: a.atty, weight: w.projw,
                   N: N, In: C, Out: C, pool: pool)
    if let lse = a.lse {
        streamingAttentionBackward(dq: s.dqkv, lddq: 3 * C, dk: s.dqkv + C, dv: s.dqkv + 2 * C, lddkv: 3 * C, dout: s.datty, ldo: C,
                                   out: a.atty, ldout: C, lse: lse, q: a.qkv, ldq: 3 * C, k: a.qkv + C, ldk: 3 * C,
                                   v: a.qkv + 2 * C, ldv: 3 * C, B: B, Tq: T, Tk: T, C: C, H: H, causal: causal,
                                   keyLengths: keyLengths, pool: pool)
    } else {
        multiHeadAttentionBackward(dq: s.dqkv, dk: s.dqkv + C, dv: s.dqkv + 2 * C, ldd: 3 * C, dout: s.datty, ldo: C,
                                   q: a.qkv, ldq: 3 * C, k: a.qkv + C, ldk: 3 * C, v: a.qkv + 2 * C, ldv: 3 * C,
                                   probs: a.probs!, B: B, Tq: T, Tk: T, C: C, H: H, causal: causal,
                                   keyLengths: keyLengths, pool: pool)
    }
    linearBackward(dinput: s.dtmp, dweight: dw.qkvw, dbias: dw.qkvb, dout: s.dqkv, input: a.ln, weight: w.qkvw,
                   N: N, In: C, Out: 3 * C, pool: pool)
    layerNormBackward(dinput: dres, dweight: dw.lnw, dbias: dw.lnb, dout: s.dtmp, input: x, weight: w.lnw,
                      mean: a.mean, rstd: a.rstd, N: N, C: C, pool: pool)
}

// MARK: - Cross-attention

/// out = x + dropout(proj(attention(q(LayerNorm(x)), kv(memory)))): decoder rows attend to the encoder output
/// `memory` of their own sequence, its padding masked by `keyLengths`.
func crossAttentionForward(_ w: CrossAttentionWeights, _ a: AttentionActivations,
                           x: UnsafePointer<Float>,                // [B, Tq, C]
                           memory: UnsafePointer<Float>,           // [B, Tk, C]
                           B: Int, Tq: Int, Tk: Int, C: Int, H: Int,
                           keyLengths: UnsafePointer<Int32>,       // [B]
                           dropout: DropoutSite, pool: ThreadPool) {
    let N = B * Tq
    let kv = a.kv!
    layerNormForward(out: a.ln, mean: a.mean, rstd: a.rstd, input: x, weight: w.lnw, bias: w.lnb, N: N, C: C, pool: pool)
    linearForward(out: a.qkv, input: a.ln, weight: w.qw, bias: w.qb, N: N, In: C, Out: C, pool: pool)
    linearForward(out: kv, input: memory, weight: w.kvw, bias: w.kvb, N: B * Tk, In: C, Out: 2 * C, pool: pool)
    multiHeadAttentionForward(out: a.atty, ldo: C, probs: a.probs!, q: a.qkv, ldq: C, k: kv, ldk: 2 * C,
                              v: kv + C, ldv: 2 * C, B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: false,
                              keyLengths: keyLengths, pool: pool)
    linearForward(out: a.proj, input: a.atty, weight: w.projw, bias: w.projb, N: N, In: C, Out: C, pool: pool)
    if dropout.p > 0 { dropoutForward(out: a.proj, input: a.proj, count: N * C, p: dropout.p, seed: dropout.seed, pool: pool) }
    add(out: a.out, x, a.proj, count: N * C, pool: pool)
}

/// Backward of `crossAttentionForward`: dres gains ∂loss/∂x, and dmemory (∂loss/∂encoder output) gains this
/// layer's share.
func crossAttentionBackward(_ w: CrossAttentionWeights, _ dw: CrossAttentionWeights, _ a: AttentionActivations,
                            x: UnsafePointer<Float>,               // [B, Tq, C]
                            memory: UnsafePointer<Float>,          // [B, Tk, C]
                            dres: UnsafeMutablePointer<Float>,     // [B, Tq, C], accumulated into
                            dmemory: UnsafeMutablePointer<Float>,  // [B, Tk, C], accumulated into
                            dkv: UnsafeMutablePointer<Float>,      // [B, Tk, 2C] scratch
                            s: SublayerScratch, B: Int, Tq: Int, Tk: Int, C: Int, H: Int,
                            keyLengths: UnsafePointer<Int32>, dropout: DropoutSite, pool: ThreadPool) {
    let N = B * Tq
    let kv = a.kv!
    let dproj = branchGradient(dres, count: N * C, site: dropout, scratch: s.dtmp, pool: pool)
    linearBackward(dinput: s.datty, dweight: dw.projw, dbias: dw.projb, dout: dproj, input: a.atty, weight: w.projw,
                   N: N, In: C, Out: C, pool: pool)
    multiHeadAttentionBackward(dq: s.dqkv, lddq: C, dk: dkv, dv: dkv + C, lddkv: 2 * C, dout: s.datty, ldo: C,
                               q: a.qkv, ldq: C, k: kv, ldk: 2 * C, v: kv + C, ldv: 2 * C, probs: a.probs!,
                               B: B, Tq: Tq, Tk: Tk, C: C, H: H, causal: false, keyLengths: keyLengths, pool: pool)
    linearBackward(dinput: dmemory, dweight: dw.kvw, dbias: dw.kvb, dout: dkv, input: memory, weight: w.kvw,
                   N: B * Tk, In: C, Out: 2 * C, accumulateInput: true, pool: pool)
    linearBackward(dinput: s.dtmp, dweight: dw.qw, dbias: dw.qb, dout: s.dqkv, input: a.ln, weight: w.qw,
                   N: N, In: C, Out: C, pool: pool)
    layerNormBackward(dinput: dres, dweight: dw.lnw, dbias: dw.lnb, dout: s.dtmp, input: x, weight: w.lnw,
                      mean: a.mean, rstd: a.rstd, N: N, C: C, pool: pool)
}

// MARK: - MLP

/// out = x + dropout(proj(GELU(fc(LayerNorm(x))))).
func mlpForward(_ w: MLPWeights, _ a: MLPActivations,
                x: UnsafePointer<Float>,                           // [N, C]
                N: Int, C: Int, dropout: DropoutSite, pool: ThreadPool, prepared: MLPMatrices? = nil) {
    layerNormForward(out: a.ln, mean: a.mean, rstd: a.rstd, input: x, weight: w.lnw, bias: w.lnb, N: N, C: C, pool: pool)
    if let prepared {
        prepared.fc.forward(out: a.fch, input: a.ln, bias: w.fcb, geluOut: a.fchGelu, rows: N, pool: pool)
        prepared.proj.forward(out: a.proj, input: a.fchGelu, bias: w.projb, rows: N, pool: pool)
    } else {
        linearForward(out: a.fch, input: a.ln, weight: w.fcw, bias: w.fcb, geluOut: a.fchGelu, N: N, In: C, Out: 4 * C, pool: pool)
        linearForward(out: a.proj, input: a.fchGelu, weight: w.projw, bias: w.projb, N: N, In: 4 * C, Out: C, pool: pool)
    }
    if dropout.p > 0 { dropoutForward(out: a.proj, input: a.proj, count: N * C, p: dropout.p, seed: dropout.seed, pool: pool) }
    add(out: a.out, x, a.proj, count: N * C, pool: pool)
}

/// Backward of `mlpForward`: dres gains ∂loss/∂x.
func mlpBackward(_ w: MLPWeights, _ dw: MLPWeights, _ a: MLPActivations,
                 x: UnsafePointer<Float>,                          // [N, C]
                 dres: UnsafeMutablePointer<Float>,                // [N, C], accumulated into
                 s: SublayerScratch, N: Int, C: Int, dropout: DropoutSite, pool: ThreadPool) {
    let dproj = branchGradient(dres, count: N * C, site: dropout, scratch: s.dtmp, pool: pool)
    // GELU(fch) is not kept per layer (at [N, 4C] it would be the largest activation): recompute it into the
    // scratch that then receives ∂loss/∂fch. linearBackward's weight product, which reads it, is finished
    // before its input product overwrites it.
    geluForward(out: s.d4c2, input: a.fch, count: N * 4 * C, pool: pool)
    // ∂loss/∂fch in one product: its epilogue applies GELU'(fch) to each tile of ∂loss/∂GELU(fch).
    linearBackward(dinput: s.d4c2, dweight: dw.projw, dbias: dw.projb, dout: dproj, input: s.d4c2, weight: w.projw,
                   geluInput: a.fch, N: N, In: 4 * C, Out: C, pool: pool)
    linearBackward(dinput: s.dtmp, dweight: dw.fcw, dbias: dw.fcb, dout: s.d4c2, input: a.ln, weight: w.fcw,
                   N: N, In: C, Out: 4 * C, pool: pool)
    layerNormBackward(dinput: dres, dweight: dw.lnw, dbias: dw.lnb, dout: s.dtmp, input: x, weight: w.lnw,
                      mean: a.mean, rstd: a.rstd, N: N, C: C, pool: pool)
}
