// Dims legend: count elements, any shape; rows × cols where a broadcast is involved.

/// out = a + b (residual connection). out may alias a or b.
public func add(out: UnsafeMutablePointer<Float>,   // [count]
                _ a: UnsafePointer<Float>,          // [count]
                _ b: UnsafePointer<Float>,          // [count]
                count: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(count, minimumPerThread: 1 << 15) { r in
        var i = r.lowerBound
        while i + 8 <= r.upperBound { store8(load8(a + i) + load8(b + i), out + i); i += 8 }
        while i < r.upperBound { out[i] = a[i] + b[i]; i += 1 }
    }
}

/// y += α·x (gradient accumulation, e.g. a residual's backward).
public func axpy(_ y: UnsafeMutablePointer<Float>,   // [count], accumulated into
                 alpha: Float,
                 _ x: UnsafePointer<Float>,          // [count]
                 count: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(count, minimumPerThread: 1 << 15) { r in
        let a8 = SIMD8<Float>(repeating: alpha)
        var i = r.lowerBound
        while i + 8 <= r.upperBound { store8(load8(y + i).addingProduct(a8, load8(x + i)), y + i); i += 8 }
        while i < r.upperBound { y[i] += alpha * x[i]; i += 1 }
    }
}

/// out = α·x + y (the translation model's scaled embeddings plus positions; α·x alone when y is nil).
/// out may alias x or y.
public func scaledAdd(out: UnsafeMutablePointer<Float>,   // [count]
                      alpha: Float,
                      _ x: UnsafePointer<Float>,          // [count]
                      _ y: UnsafePointer<Float>?,         // [count] or nil
                      count: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(count, minimumPerThread: 1 << 15) { r in
        let a8 = SIMD8<Float>(repeating: alpha)
        var i = r.lowerBound
        if let y {
            while i + 8 <= r.upperBound { store8(load8(y + i).addingProduct(a8, load8(x + i)), out + i); i += 8 }
            while i < r.upperBound { out[i] = alpha * x[i] + y[i]; i += 1 }
        } else {
            while i + 8 <= r.upperBound { store8(a8 * load8(x + i), out + i); i += 8 }
            while i < r.upperBound { out[i] = alpha * x[i]; i += 1 }
        }
    }
}

/// out[r] += bias (a bias broadcast over rows).
public func addBias(_ out: UnsafeMutablePointer<Float>,   // [rows, cols]
                    bias: UnsafePointer<Float>,           // [cols]
                    rows: Int, cols: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { range in
        for r in range {
            let o = out + r * cols
            var j = 0
            while j + 8 <= cols { store8(load8(o + j) + load8(bias + j), o + j); j += 8 }
            while j < cols { o[j] += bias[j]; j += 1 }
        }
    }
}

/// dbias += Σ_rows dout (the backward of `addBias`). Threads split the columns.
public func biasBackward(dbias: UnsafeMutablePointer<Float>,   // [cols], accumulated into
                         dout: UnsafePointer<Float>,           // [rows, cols]
                         rows: Int, cols: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(cols, minimumPerThread: max(8, cols / max(1, pool.threadCount))) { cr in
        for r in 0..<rows {
            let d = dout + r * cols
            var j = cr.lowerBound
            while j + 8 <= cr.upperBound { store8(load8(dbias + j) + load8(d + j), dbias + j); j += 8 }
            while j < cr.upperBound { dbias[j] += d[j]; j += 1 }
        }
    }
}

// MARK: - Dropout

/// A counter-based random number (SplitMix64's mix of seed + index·γ): element i's draw depends only on
/// (seed, i), so the mask is the same for any thread count and the backward pass recomputes it instead of
/// storing it.
@inline(__always)
func dropoutUniform(seed: UInt64, index: Int) -> Float {
    let z = SplitMix64.mix(seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
    return Float(z >> 40) * (1.0 / Float(1 << 24))
}

/// out = x·keep/(1 − p), keep = (u ≥ p) with u drawn from (seed, i). p = 0 copies. out may alias x.
public func dropoutForward(out: UnsafeMutablePointer<Float>,   // [count]
                           input: UnsafePointer<Float>,       // [count]
                           count: Int, p: Float, seed: UInt64, pool: ThreadPool = .shared) {
    if p == 0 { if out != UnsafeMutablePointer(mutating: input) { out.update(from: input, count: count) }; return }
    let scale = 1 / (1 - p)
    pool.parallelFor(count, minimumPerThread: 1 << 14) { r in
        for i in r { out[i] = dropoutUniform(seed: seed, index: i) >= p ? input[i] * scale : 0 }
    }
}

/// dinput += dout·keep/(1 − p) (or dinput = … when `accumulate` is false, which saves zeroing it first),
/// with the forward pass's mask recomputed from (seed, i).
public func dropoutBackward(dinput: UnsafeMutablePointer<Float>,   // [count], accumulated into (or overwritten)
                            dout: UnsafePointer<Float>,            // [count]
                            count: Int, p: Float, seed: UInt64, accumulate: Bool = true,
                            pool: ThreadPool = .shared) {
    if p == 0 {
        if accumulate { axpy(dinput, alpha: 1, dout, count: count, pool: pool) } else { dinput.update(from: dout, count: count) }
        return
    }
    let scale = 1 / (1 - p)
    pool.parallelFor(count, minimumPerThread: 1 << 14) { r in
        for i in r {
            let g = dropoutUniform(seed: seed, index: i) >= p ? dout[i] * scale : 0
            dinput[i] = accumulate ? dinput[i] + g : g
        }
    }
}
