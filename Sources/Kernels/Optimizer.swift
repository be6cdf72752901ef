import Foundation

// Dims legend: count parameters, flat.

/// Hyper-parameters of AdamW (Loshchilov & Hutter): weight decay decoupled from the gradient.
public struct AdamWHyper: Sendable, Equatable, Codable {
    public var lr: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0.01
    public init(lr: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

/// One AdamW step in PyTorch's order: p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// p ← p − (lr/(1−β1^t))·m/(√v/√(1−β2^t) + ε). `step` counts from 1. `decay` (optional, [count] of 0/1)
/// exempts parameters such as biases and LayerNorm weights from weight decay.
public func adamWStep(params: UnsafeMutablePointer<Float>,   // [count]
                      grads: UnsafePointer<Float>,           // [count]
                      m: UnsafeMutablePointer<Float>,        // [count]
                      v: UnsafeMutablePointer<Float>,        // [count]
                      count: Int, step: Int, hyper h: AdamWHyper, decay: Bool = true,
                      pool: ThreadPool = .shared) {
    let bc1 = 1 - Foundation.pow(Double(h.beta1), Double(step))
    let bc2 = 1 - Foundation.pow(Double(h.beta2), Double(step))
    let stepSize = Float(Double(h.lr) / bc1)
    let rbc2 = Float(1 / bc2.squareRoot())
    let shrink: Float = decay ? 1 - h.lr * h.weightDecay : 1
    pool.parallelFor(count, minimumPerThread: 1 << 14) { r in
        let b1 = SIMD8<Float>(repeating: h.beta1), b2 = SIMD8<Float>(repeating: h.beta2)
        let ob1 = SIMD8<Float>(repeating: 1 - h.beta1), ob2 = SIMD8<Float>(repeating: 1 - h.beta2)
        let e8 = SIMD8<Float>(repeating: h.eps), s8 = SIMD8<Float>(repeating: stepSize)
        let rb = SIMD8<Float>(repeating: rbc2), sh = SIMD8<Float>(repeating: shrink)
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let g = load8(grads + i)
            let mi = b1 * load8(m + i) + ob1 * g
            let vi = b2 * load8(v + i) + ob2 * g * g
            store8(mi, m + i); store8(vi, v + i)
            store8(load8(params + i) * sh - s8 * mi / (vi.squareRoot() * rb + e8), params + i)
            i += 8
        }
        while i < r.upperBound {
            let g = grads[i]
            m[i] = h.beta1 * m[i] + (1 - h.beta1) * g
            v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g
            params[i] = params[i] * shrink - stepSize * m[i] / (v[i].squareRoot() * rbc2 + h.eps)
            i += 1
        }
    }
}

/// Σ g² over the buffer, in Double (for the global gradient norm used by clipping).
public func sumOfSquares(_ g: UnsafePointer<Float>,   // [count]
                         count: Int, pool: ThreadPool = .shared) -> Double {
    pool.exclusive {
        let workers = max(1, min(pool.threadCount, count / (1 << 15)))
        let partial = pool.workspace.bytes(Workspace.Slot.partials, count: 64 * workers).bindMemory(to: Double.self, capacity: 8 * workers)
        pool.run(threads: workers) { tid in
            let lo = count * tid / workers, hi = count * (tid + 1) / workers
            var acc = 0.0
            var i = lo
            // Float SIMD partials over short spans, flushed to Double: fast and accurate enough for a norm.
            while i < hi {
                let end = min(hi, i + 4096)
                var s8 = SIMD8<Float>()
                while i + 8 <= end { let x = load8(g + i); s8 = s8.addingProduct(x, x); i += 8 }
                var s = Double(hsum(s8))
                while i < end { s += Double(g[i]) * Double(g[i]); i += 1 }
                acc += s
            }
            partial[8 * tid] = acc
        }
        var total = 0.0
        for t in 0..<workers { total += partial[8 * t] }
        return total
    }
}

/// Scales the gradient so its global L2 norm is at most maxNorm (PyTorch's clip_grad_norm_: coefficient
/// maxNorm/(norm + 1e-6), applied only when below 1). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ g: UnsafeMutablePointer<Float>,   // [count]
                             count: Int, maxNorm: Float, pool: ThreadPool = .shared) -> Float {
    let norm = Float(sumOfSquares(g, count: count, pool: pool).squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        pool.parallelFor(count, minimumPerThread: 1 << 15) { r in for i in r { g[i] *= coef } }
    }
    return norm
}
