import Foundation

// Dims legend: rows × cols, row-major, contiguous rows (row stride = cols).

/// Reference row softmax in Double.
public func softmaxRowsNaive(out: UnsafeMutablePointer<Float>,   // [rows, cols]
                             input: UnsafePointer<Float>,       // [rows, cols]
                             rows: Int, cols: Int) {
    for r in 0..<rows {
        let x = input + r * cols, y = out + r * cols
        var mx = -Double.infinity
        for j in 0..<cols { mx = max(mx, Double(x[j])) }
        var s = 0.0
        for j in 0..<cols { s += Foundation.exp(Double(x[j]) - mx) }
        for j in 0..<cols { y[j] = Float(Foundation.exp(Double(x[j]) - mx) / s) }
    }
}

/// Reference row log-softmax in Double.
public func logSoftmaxRowsNaive(out: UnsafeMutablePointer<Float>,   // [rows, cols]
                                input: UnsafePointer<Float>,       // [rows, cols]
                                rows: Int, cols: Int) {
    for r in 0..<rows {
        let x = input + r * cols, y = out + r * cols
        var mx = -Double.infinity
        for j in 0..<cols { mx = max(mx, Double(x[j])) }
        var s = 0.0
        for j in 0..<cols { s += Foundation.exp(Double(x[j]) - mx) }
        let lse = mx + Foundation.log(s)
        for j in 0..<cols { y[j] = Float(Double(x[j]) - lse) }
    }
}

/// Max of a row (8 lanes at a time, scalar tail).
@inline(__always)
func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var j = 0
    while j + 8 <= n { m8 = vmax(m8, load8(x + j)); j += 8 }
    var m = hmax(m8)
    while j < n { m = max(m, x[j]); j += 1 }
    return m
}

/// Σ e^(x - shift) over a row; with `store`, also writes each e^(x - shift) there.
@inline(__always)
func rowSumExp(_ x: UnsafePointer<Float>, _ n: Int, shift: Float, store: UnsafeMutablePointer<Float>?) -> Float {
    let s8 = SIMD8<Float>(repeating: shift)
    var acc = SIMD8<Float>()
    var j = 0
    while j + 8 <= n {
        let e = vexp(load8(x + j) - s8)
        if let store { store8(e, store + j) }
        acc += e
        j += 8
    }
    var s = hsum(acc)
    while j < n {
        let e = sexp(x[j] - shift)
        store?[j] = e
        s += e
        j += 1
    }
    return s
}

@inline(__always)
func rowScale(_ y: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float) {
    let a8 = SIMD8<Float>(repeating: a)
    var j = 0
    while j + 8 <= n { store8(load8(y + j) * a8, y + j); j += 8 }
    while j < n { y[j] *= a; j += 1 }
}

/// Row softmax, fused: the max pass reads the row from memory; the exponentials are written once and
/// rescaled while the row is still in cache, so memory sees one read and one write. In place is allowed.
public func softmaxRows(out: UnsafeMutablePointer<Float>,   // [rows, cols]
                        input: UnsafePointer<Float>,       // [rows, cols]
                        rows: Int, cols: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { range in
        for r in range {
            let x = input + r * cols, y = out + r * cols
            let m = rowMax(x, cols)
            let s = rowSumExp(x, cols, shift: m, store: y)
            rowScale(y, cols, 1 / s)
        }
    }
}

/// Row log-softmax, fused: max, then Σe^(x-max) (nothing stored), then x − max − log Σ. In place is allowed.
public func logSoftmaxRows(out: UnsafeMutablePointer<Float>,   // [rows, cols]
                           input: UnsafePointer<Float>,       // [rows, cols]
                           rows: Int, cols: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(rows, minimumPerThread: max(1, 16384 / max(cols, 1))) { range in
        for r in range {
            let x = input + r * cols, y = out + r * cols
            let m = rowMax(x, cols)
            let lse = m + Foundation.log(rowSumExp(x, cols, shift: m, store: nil))
            let l8 = SIMD8<Float>(repeating: lse)
            var j = 0
            while j + 8 <= cols { store8(load8(x + j) - l8, y + j); j += 8 }
            while j < cols { y[j] = x[j] - lse; j += 1 }
        }
    }
}
