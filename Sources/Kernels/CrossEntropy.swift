import Foundation

// Dims legend: rows (positions, B·T) × V (vocabulary), row-major, contiguous rows.
//
// For a target distribution q (Σq = 1): loss = lse − Σ_k q_k z_k and ∂loss/∂z = softmax(z) − q, so every
// convention needs only (max, Σe^(z−max), z_y, Σz or Σu·z) per row, and the gradient can overwrite the
// logits. ../notes: PyTorch's `cross_entropy(label_smoothing=ε)` is `uniform`.

/// How ε of the target probability is spread over the vocabulary.
public enum SmoothingStyle: String, Sendable, CaseIterable {
    /// q_y = 1 − ε + ε/V, q_k = ε/V (pad column included): PyTorch, HF, Marian.
    case uniform
    /// q_y = 1 − ε, q_k = ε/(V−1): fairseq's label_smoothed_cross_entropy.
    case fairseq
    /// q = (1 − ε)·onehot(y) + ε·u for given weights u (Σu = 1), e.g. unigram frequencies.
    case prior
}

/// Sums over the counted (non-ignored) rows of a batch. Additive across row blocks.
public struct CrossEntropyStats: Sendable, Equatable {
    /// Σ smoothed loss (what is optimised).
    public var loss: Double = 0
    /// Σ unsmoothed negative log-likelihood of the targets (what perplexity is made from).
    public var nll: Double = 0
    public var count: Int = 0
    /// Rows whose argmax is the target.
    public var correct: Int = 0
    /// Σ top-1 probability.
    public var confidence: Double = 0

    public init() {}

    public static func += (a: inout CrossEntropyStats, b: CrossEntropyStats) {
        a.loss += b.loss; a.nll += b.nll; a.count += b.count; a.correct += b.correct; a.confidence += b.confidence
    }
}

/// Reference: the same quantities in Double from explicit softmax and target distributions.
/// grad (if given) receives gradScale·(p − q) for counted rows and zeros for ignored ones.
public func crossEntropyNaive(logits: UnsafePointer<Float>,           // [rows, V]
                              targets: UnsafePointer<Int32>,          // [rows]
                              rows: Int, vocab: Int, smoothing: Float, style: SmoothingStyle,
                              prior: UnsafePointer<Float>?,           // [V], Σ = 1 (style .prior)
                              ignoreIndex: Int32 = -100,
                              grad: UnsafeMutablePointer<Float>?,     // [rows, V]
                              gradScale: Float = 1,
                              rowConfidence: UnsafeMutablePointer<Float>? = nil) -> CrossEntropyStats {
    var st = CrossEntropyStats()
    let eps = Double(smoothing), V = vocab
    for r in 0..<rows {
        let z = logits + r * V
        let y = Int(targets[r])
        if targets[r] == ignoreIndex {
            if let grad { for k in 0..<V { grad[r * V + k] = 0 } }
            rowConfidence?[r] = .nan
            continue
        }
        var mx = -Double.infinity, arg = 0
        for k in 0..<V where Double(z[k]) > mx { mx = Double(z[k]); arg = k }
        var s = 0.0
        for k in 0..<V { s += Foundation.exp(Double(z[k]) - mx) }
        let lse = mx + Foundation.log(s)
        var q = [Double](repeating: 0, count: V)
        for k in 0..<V {
            switch style {
            case .uniform: q[k] = eps / Double(V)
            case .fairseq: q[k] = V > 1 ? eps / Double(V - 1) : 0
            case .prior: q[k] = eps * Double(prior![k])
            }
        }
        q[y] = style == .fairseq ? 1 - eps : q[y] + 1 - eps
        if V == 1 { q[y] = 1 }
        var loss = 0.0
        for k in 0..<V { loss -= q[k] * (Double(z[k]) - lse) }
        st.loss += loss
        st.nll += lse - Double(z[y])
        st.count += 1
        if arg == y { st.correct += 1 }
        st.confidence += Foundation.exp(mx - lse)
        rowConfidence?[r] = Float(Foundation.exp(mx - lse))
        if let grad {
            for k in 0..<V { grad[r * V + k] = Float(Double(gradScale) * (Foundation.exp(Double(z[k]) - lse) - q[k])) }
        }
    }
    return st
}

/// Fused label-smoothed cross-entropy, forward and (optionally) backward, one row at a time:
/// pass 1 reads the row from memory for max, Σz (or Σu·z); pass 2 sums e^(z−max) in cache; with a gradient,
/// pass 3 overwrites the logits with gradScale·(softmax − q). Rows whose target is `ignoreIndex` count for
/// nothing and get a zero gradient. Rows are split across threads; call it on row blocks of any size and add
/// the stats, so the B·T×V logits never need to exist at once.
///
/// - gradScale: nil for forward only (logits untouched); otherwise e.g. 1/(counted rows of the whole batch)
///   for the gradient of the mean loss.
/// - rowConfidence: if given, each row's top-1 probability (NaN for ignored rows), for calibration.
public func crossEntropy(logits: UnsafeMutablePointer<Float>,          // [rows, V], becomes ∂loss/∂logits
                         targets: UnsafePointer<Int32>,                // [rows]
                         rows: Int, vocab: Int, smoothing: Float, style: SmoothingStyle = .uniform,
                         prior: UnsafePointer<Float>? = nil,           // [V], Σ = 1 (style .prior)
                         ignoreIndex: Int32 = -100,
                         gradScale: Float?,
                         rowConfidence: UnsafeMutablePointer<Float>? = nil,   // [rows]
                         pool: ThreadPool = .shared) -> CrossEntropyStats {
    if rows == 0 { return CrossEntropyStats() }
    let V = vocab
    let eps = smoothing
    // q = hard·onehot(y) + the smoothing part; `off` is the smoothing weight per class (times u_k for the
    // prior); `onTarget` is the whole of q_y for the uniform and fairseq forms (without ε·u_y for the prior).
    let off: Float, onTarget: Float
    switch style {
    case .uniform: off = eps / Float(V); onTarget = 1 - eps + eps / Float(V)
    case .fairseq: off = V > 1 ? eps / Float(V - 1) : 0; onTarget = V > 1 ? 1 - eps : 1
    case .prior: off = eps; onTarget = 1 - eps   // q_k = ε·u_k; q_y = 1 − ε + ε·u_y
    }
    return pool.exclusive {
        let workers = max(1, min(pool.threadCount, rows / 8))
        let partials = pool.workspace.bytes(Workspace.Slot.partials, count: 64 * pool.threadCount * MemoryLayout<CrossEntropyStats>.stride)
            .bindMemory(to: CrossEntropyStats.self, capacity: pool.threadCount)
        pool.run(threads: workers) { tid in
            var st = CrossEntropyStats()
            let lo = rows * tid / workers, hi = rows * (tid + 1) / workers
            for r in lo..<hi {
                let z = logits + r * V
                let t = targets[r]
                if t == ignoreIndex || t < 0 || Int(t) >= V {
                    // Out-of-range targets other than ignoreIndex are the caller's bug; treat them as ignored
                    // rather than read outside the row.
                    if gradScale != nil { z.update(repeating: 0, count: V) }
                    rowConfidence?[r] = .nan
                    continue
                }
                let y = Int(t)
                // Pass 1: max and Σz (uniform, fairseq) or Σu·z (prior).
                var m8 = SIMD8<Float>(repeating: -.infinity), s8 = SIMD8<Float>()
                var j = 0
                if style == .prior, let u = prior {
                    while j + 8 <= V { let v = load8(z + j); m8 = vmax(m8, v); s8 = s8.addingProduct(v, load8(u + j)); j += 8 }
                } else {
                    while j + 8 <= V { let v = load8(z + j); m8 = vmax(m8, v); s8 += v; j += 8 }
                }
                var m = hmax(m8), sz = hsum(s8)
                while j < V {
                    m = max(m, z[j])
                    sz += style == .prior ? z[j] * prior![j] : z[j]
                    j += 1
                }
                let zy = z[y]
                // Argmax = target: z_y is the max and no earlier element equals it (checked while the row still
                // holds logits; it reads only up to the first maximum).
                let isCorrect = zy == m && firstIndex(of: m, in: z, V) == y
                // Pass 2 (in cache): Σe^(z−m). With a gradient to write, keep e^(z−m) in place of the logits so
                // pass 3 scales it instead of computing a second exponential.
                let se = rowSumExp(z, V, shift: m, store: gradScale == nil ? nil : z)
                let lse = m + Foundation.log(se)
                let smooth: Float
                switch style {
                case .uniform: smooth = off * sz
                case .fairseq: smooth = off * (sz - zy)
                case .prior: smooth = off * sz
                }
                // loss = lse − hard·z_y − Σ_k q^smooth_k·z_k, where smooth already holds Σ_k q^smooth_k·z_k.
                let hard: Float = (style == .fairseq && V == 1) ? 1 : 1 - eps
                st.loss += Double(lse - hard * zy - smooth)
                st.nll += Double(lse - zy)
                st.count += 1
                let conf = 1 / se   // e^(max − lse)
                st.confidence += Double(conf)
                rowConfidence?[r] = conf
                if isCorrect { st.correct += 1 }
                // Pass 3: gradient in place, (p − q)·gradScale with p = e^(z−m)/Σ.
                if let g = gradScale {
                    let inv = 1 / se
                    let i8 = SIMD8<Float>(repeating: inv), g8 = SIMD8<Float>(repeating: g)
                    var j = 0
                    if style == .prior, let u = prior {
                        let e8 = SIMD8<Float>(repeating: off)
                        while j + 8 <= V { store8((load8(z + j) * i8 - e8 * load8(u + j)) * g8, z + j); j += 8 }
                        while j < V { z[j] = (z[j] * inv - off * u[j]) * g; j += 1 }
                    } else {
                        let o8 = SIMD8<Float>(repeating: off)
                        while j + 8 <= V { store8((load8(z + j) * i8 - o8) * g8, z + j); j += 8 }
                        while j < V { z[j] = (z[j] * inv - off) * g; j += 1 }
                    }
                    // The target's q: onTarget in total (plus ε·u_y for the prior, already subtracted above).
                    z[y] = (sexp(zy - lse) - onTarget - (style == .prior ? off * prior![y] : 0)) * g
                }
            }
            partials[tid] = st
        }
        var total = CrossEntropyStats()
        for t in 0..<workers { total += partials[t] }
        return total
    }
}

/// First index where the row equals `value` (which occurs in it), 8 lanes at a time.
@inline(__always)
func firstIndex(of value: Float, in x: UnsafePointer<Float>, _ n: Int) -> Int {
    let v8 = SIMD8<Float>(repeating: value)
    var j = 0
    while j + 8 <= n {
        let eq = load8(x + j) .== v8
        if any(eq) { for l in 0..<8 where eq[l] { return j + l } }
        j += 8
    }
    while j < n { if x[j] == value { return j }; j += 1 }
    return n
}
