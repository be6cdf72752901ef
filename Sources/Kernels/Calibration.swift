import Foundation

// Dims legend: rows predictions of V classes; nT temperatures.

/// Per-row calibration statistics of a block of logits, for several softmax temperatures at once (one
/// logits block, many T, so temperature scaling is fitted without storing logits or re-running the model per
/// T). For each counted row (target ≠ ignoreIndex) and each T: the NLL −log softmax(z/T)_y and the top-1
/// confidence max softmax(z/T); plus, temperature-free, whether the argmax is the target (T > 0 does not move
/// it) and the entropy of softmax(z). Ignored rows get NaN everywhere.
public func calibrationRows(logits: UnsafePointer<Float>,                // [rows, V]
                            targets: UnsafePointer<Int32>,               // [rows]
                            rows: Int, vocab V: Int, ignoreIndex: Int32 = -100,
                            temperatures: UnsafePointer<Float>, count nT: Int,   // [nT], each > 0
                            nll: UnsafeMutablePointer<Float>,            // [rows, nT]
                            confidence: UnsafeMutablePointer<Float>,     // [rows, nT]
                            correct: UnsafeMutablePointer<Float>,        // [rows]: 1 or 0
                            entropy: UnsafeMutablePointer<Float>,        // [rows], nats, at T = 1
                            pool: ThreadPool = .shared) {
    pool.parallelFor(rows, minimumPerThread: 4) { range in
        for r in range {
            let z = logits + r * V
            let t = targets[r]
            if t == ignoreIndex || t < 0 || Int(t) >= V {
                for k in 0..<nT { nll[r * nT + k] = .nan; confidence[r * nT + k] = .nan }
                correct[r] = .nan; entropy[r] = .nan
                continue
            }
            var m8 = SIMD8<Float>(repeating: -.infinity)
            var j = 0
            while j + 8 <= V { m8 = vmax(m8, load8(z + j)); j += 8 }
            var m = hmax(m8)
            while j < V { m = max(m, z[j]); j += 1 }
            let zy = z[Int(t)]
            correct[r] = zy == m && firstIndex(of: m, in: z, V) == Int(t) ? 1 : 0
            for k in 0..<nT {
                let inv = 1 / temperatures[k]
                // Σ exp((z − m)/T), and for T = 1 also Σ exp(z − m)·(z − m) for the entropy.
                let i8 = SIMD8<Float>(repeating: inv), m8s = SIMD8<Float>(repeating: m)
                var s8 = SIMD8<Float>(), w8 = SIMD8<Float>()
                let wantEntropy = temperatures[k] == 1
                j = 0
                while j + 8 <= V {
                    let d = load8(z + j) - m8s
                    let e = vexp(d * i8)
                    s8 += e
                    if wantEntropy { w8 = w8.addingProduct(e, d) }
                    j += 8
                }
                var s = hsum(s8), w = hsum(w8)
                while j < V {
                    let d = z[j] - m
                    let e = sexp(d * inv)
                    s += e
                    if wantEntropy { w += e * d }
                    j += 1
                }
                let logS = Foundation.log(s)
                nll[r * nT + k] = logS - (zy - m) * inv
                confidence[r * nT + k] = 1 / s
                if wantEntropy { entropy[r] = logS - w / s }
            }
        }
    }
}

/// Reference in Double: the same statistics from an explicit softmax.
public func calibrationRowsNaive(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab V: Int,
                                 temperatures: [Float]) -> (nll: [Double], confidence: [Double], correct: [Double], entropy: [Double]) {
    var nll: [Double] = [], conf: [Double] = [], correct: [Double] = [], ent: [Double] = []
    for r in 0..<rows {
        let z = (0..<V).map { Double(logits[r * V + $0]) }
        let y = Int(targets[r])
        let best = z.indices.max { z[$0] < z[$1] || (z[$0] == z[$1] && $0 > $1) }!
        correct.append(best == y ? 1 : 0)
        for T in temperatures {
            let s = z.map { $0 / Double(T) }
            let mx = s.max()!
            let lse = mx + Foundation.log(s.reduce(0) { $0 + Foundation.exp($1 - mx) })
            nll.append(lse - s[y])
            conf.append(Foundation.exp(mx - lse))
        }
        let mx = z.max()!
        let lse = mx + Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - mx) })
        ent.append(-z.reduce(0) { $0 + Foundation.exp($1 - lse) * ($1 - lse) })
    }
    return (nll, conf, correct, ent)
}
