import Foundation

// Dims legend: N rows (positions), C channels. LayerNorm normalises each row over C.

/// out = (x − mean)·rstd·weight + bias per row; saves mean and rstd for the backward pass.
public func layerNormForward(out: UnsafeMutablePointer<Float>,    // [N, C]
                             mean: UnsafeMutablePointer<Float>,   // [N]
                             rstd: UnsafeMutablePointer<Float>,   // [N]
                             input: UnsafePointer<Float>,         // [N, C]
                             weight: UnsafePointer<Float>,        // [C]
                             bias: UnsafePointer<Float>,          // [C]
                             N: Int, C: Int, eps: Float = 1e-5, pool: ThreadPool = .shared) {
    pool.parallelFor(N, minimumPerThread: max(1, 8192 / max(C, 1))) { range in
        for n in range {
            let x = input + n * C, y = out + n * C
            var s8 = SIMD8<Float>()
            var j = 0
            while j + 8 <= C { s8 += load8(x + j); j += 8 }
            var s = hsum(s8)
            while j < C { s += x[j]; j += 1 }
            let m = s / Float(C)
            // Two-pass variance (the row is in cache): no cancellation when |mean| ≫ std.
            let m8 = SIMD8<Float>(repeating: m)
            var v8 = SIMD8<Float>()
            j = 0
            while j + 8 <= C { let d = load8(x + j) - m8; v8 = v8.addingProduct(d, d); j += 8 }
            var v = hsum(v8)
            while j < C { let d = x[j] - m; v += d * d; j += 1 }
            let r = 1 / (v / Float(C) + eps).squareRoot()
            let r8 = SIMD8<Float>(repeating: r)
            j = 0
            while j + 8 <= C {
                store8(load8(bias + j).addingProduct((load8(x + j) - m8) * r8, load8(weight + j)), y + j)
                j += 8
            }
            while j < C { y[j] = (x[j] - m) * r * weight[j] + bias[j]; j += 1 }
            mean[n] = m
            rstd[n] = r
        }
    }
}

/// Backward of `layerNormForward`: dinput += …, dweight += Σ_n norm·dout, dbias += Σ_n dout.
/// Rows are split across threads for dinput; each thread accumulates its own dweight/dbias partial in the
/// pool's workspace, summed at the end (no races, no atomics).
public func layerNormBackward(dinput: UnsafeMutablePointer<Float>,    // [N, C], accumulated into
                              dweight: UnsafeMutablePointer<Float>,   // [C], accumulated into
                              dbias: UnsafeMutablePointer<Float>,     // [C], accumulated into
                              dout: UnsafePointer<Float>,             // [N, C]
                              input: UnsafePointer<Float>,            // [N, C]
                              weight: UnsafePointer<Float>,           // [C]
                              mean: UnsafePointer<Float>,             // [N]
                              rstd: UnsafePointer<Float>,             // [N]
                              N: Int, C: Int, pool: ThreadPool = .shared) {
    pool.exclusive {
        let workers = max(1, min(pool.threadCount, N / 4))
        let partial = pool.workspace.floats(Workspace.Slot.partials, count: 2 * C * workers)
        partial.update(repeating: 0, count: 2 * C * workers)
        pool.run(threads: workers) { tid in
            let dw = partial + tid * 2 * C, db = dw + C
            let lo = N * tid / workers, hi = N * (tid + 1) / workers
            for n in lo..<hi {
                let x = input + n * C, dy = dout + n * C, dx = dinput + n * C
                let m = mean[n], r = rstd[n]
                // norm = (x − m)·r; dnorm = dy·w; dx = r·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)).
                var a8 = SIMD8<Float>(), b8 = SIMD8<Float>()
                let m8 = SIMD8<Float>(repeating: m), r8 = SIMD8<Float>(repeating: r)
                var j = 0
                while j + 8 <= C {
                    let norm = (load8(x + j) - m8) * r8
                    let dyv = load8(dy + j)
                    let dnorm = dyv * load8(weight + j)
                    a8 += dnorm
                    b8 = b8.addingProduct(dnorm, norm)
                    store8(load8(db + j) + dyv, db + j)
                    store8(load8(dw + j).addingProduct(norm, dyv), dw + j)
                    j += 8
                }
                var a = hsum(a8), b = hsum(b8)
                while j < C {
                    let norm = (x[j] - m) * r
                    let dnorm = dy[j] * weight[j]
                    a += dnorm; b += dnorm * norm
                    db[j] += dy[j]; dw[j] += norm * dy[j]
                    j += 1
                }
                a /= Float(C); b /= Float(C)
                let a8s = SIMD8<Float>(repeating: a), b8s = SIMD8<Float>(repeating: b)
                j = 0
                while j + 8 <= C {
                    let norm = (load8(x + j) - m8) * r8
                    let dnorm = load8(dy + j) * load8(weight + j)
                    store8(load8(dx + j) + r8 * (dnorm - a8s - norm * b8s), dx + j)
                    j += 8
                }
                while j < C {
                    let norm = (x[j] - m) * r
                    dx[j] += r * (dy[j] * weight[j] - a - norm * b)
                    j += 1
                }
            }
        }
        for t in 0..<workers {
            let dw = partial + t * 2 * C, db = dw + C
            for j in 0..<C { dweight[j] += dw[j]; dbias[j] += db[j] }
        }
    }
}

/// Reference LayerNorm forward in Double.
public func layerNormForwardNaive(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                                  rstd: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                                  weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                  N: Int, C: Int, eps: Float = 1e-5) {
    for n in 0..<N {
        let x = input + n * C
        var m = 0.0
        for j in 0..<C { m += Double(x[j]) }
        m /= Double(C)
        var v = 0.0
        for j in 0..<C { v += (Double(x[j]) - m) * (Double(x[j]) - m) }
        let r = 1 / (v / Double(C) + Double(eps)).squareRoot()
        for j in 0..<C { out[n * C + j] = Float((Double(x[j]) - m) * r * Double(weight[j]) + Double(bias[j])) }
        mean[n] = Float(m); rstd[n] = Float(r)
    }
}

/// Reference LayerNorm backward in Double (accumulates like the fast one).
public func layerNormBackwardNaive(dinput: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                   dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                   input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, N: Int, C: Int) {
    for n in 0..<N {
        let m = Double(mean[n]), r = Double(rstd[n])
        var a = 0.0, b = 0.0
        for j in 0..<C {
            let norm = (Double(input[n * C + j]) - m) * r
            let dnorm = Double(dout[n * C + j]) * Double(weight[j])
            a += dnorm; b += dnorm * norm
        }
        a /= Double(C); b /= Double(C)
        for j in 0..<C {
            let norm = (Double(input[n * C + j]) - m) * r
            let dnorm = Double(dout[n * C + j]) * Double(weight[j])
            dinput[n * C + j] += Float(r * (dnorm - a - norm * b))
            dweight[j] += Float(norm * Double(dout[n * C + j]))
            dbias[j] += dout[n * C + j]
        }
    }
}
