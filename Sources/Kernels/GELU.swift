import Foundation

// Dims legend: count elements, any shape.

/// √(2/π), the tanh-form GELU's constant (GPT-2, PyTorch `approximate='tanh'`).
let geluScale: Float = 0.797_884_560_802_865_4

/// out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
public func geluForward(out: UnsafeMutablePointer<Float>,   // [count]
                        input: UnsafePointer<Float>,       // [count]
                        count: Int, pool: ThreadPool = .shared) {
    pool.parallelFor(count, minimumPerThread: 1 << 14) { range in
        geluSpan(out: out + range.lowerBound, input: input + range.lowerBound, count: range.count)
    }
}

/// GELU of `count` consecutive floats on the calling thread: the body of `geluForward`, and the GEMM epilogue
/// that applies it to each output tile while the tile is still in L1.
@inline(__always)
func geluSpan(out: UnsafeMutablePointer<Float>,   // [count]
              input: UnsafePointer<Float>,       // [count]
              count: Int) {
    var i = 0
    let c = SIMD8<Float>(repeating: geluScale), k = SIMD8<Float>(repeating: 0.044715), h = SIMD8<Float>(repeating: 0.5)
    while i + 8 <= count {
        let x = load8(input + i)
        let u = c * x.addingProduct(k * x, x * x)
        store8(h * x * (1 + vtanh(u)), out + i)
        i += 8
    }
    if i < count {
        // The tail through the same vector formula, so a value never depends on where its span was cut: the
        // model recomputes GELU in backward with other cuts than the GEMM epilogue's tiles used in forward.
        var x = SIMD8<Float>(repeating: 0)
        for j in 0..<(count - i) { x[j] = input[i + j] }
        let u = c * x.addingProduct(k * x, x * x)
        let y = h * x * (1 + vtanh(u))
        for j in 0..<(count - i) { out[i + j] = y[j] }
    }
}

/// dinput += dout·GELU'(x) (or dinput = … when `accumulate` is false, which saves zeroing it first), with GELU'(x) = 0.5(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(u).
public func geluBackward(dinput: UnsafeMutablePointer<Float>,   // [count], accumulated into (or overwritten)
                         input: UnsafePointer<Float>,           // [count]
                         dout: UnsafePointer<Float>,            // [count]
                         count: Int, accumulate: Bool = true, pool: ThreadPool = .shared) {
    pool.parallelFor(count, minimumPerThread: 1 << 14) { range in
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let prior = accumulate ? load8(dinput + i) : SIMD8<Float>()
            store8(prior.addingProduct(geluDerivative8(load8(input + i)), load8(dout + i)), dinput + i)
            i += 8
        }
        while i < range.upperBound {
            dinput[i] = (accumulate ? dinput[i] : 0) + dout[i] * geluDerivativeNaive(input[i])
            i += 1
        }
    }
}

/// x[i] *= GELU'(input[i]) for `count` consecutive floats on the calling thread: the GEMM epilogue that turns
/// ∂loss/∂GELU(x), as the product computes it, into ∂loss/∂x (`geluBackward` with the gradient in place).
@inline(__always)
func geluGradSpan(_ x: UnsafeMutablePointer<Float>,   // [count], ∂/∂GELU(input) in, ∂/∂input out
                  input: UnsafePointer<Float>,       // [count]
                  count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(load8(x + i) * geluDerivative8(load8(input + i)), x + i)
        i += 8
    }
    while i < count {
        x[i] *= geluDerivativeNaive(input[i])
        i += 1
    }
}

/// GELU'(x) = 0.5(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(u), u = √(2/π)(x + 0.044715x³).
@inline(__always)
func geluDerivative8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let c = SIMD8<Float>(repeating: geluScale), k = SIMD8<Float>(repeating: 0.044715), h = SIMD8<Float>(repeating: 0.5)
    let k3 = SIMD8<Float>(repeating: 3 * 0.044715)
    let x2 = x * x
    // With e = e^{2u}: tanh u = 1 − 2/(e+1) and sech²u = 4e/(e+1)². Computing sech² from e keeps its relative
    // accuracy where tanh saturates (1 − t² would cancel).
    let e = vexp(2 * c * x.addingProduct(k * x, x2))
    let inv = 1 / (e + 1)
    let t = 1 - 2 * inv
    let sech2 = (4 * inv) * (e * inv)   // grouped so no factor overflows (e reaches 1.6e38)
    return h * (1 + t) + h * x * sech2 * c * (1 + k3 * x2)
}

/// Reference GELU (tanh form) in Double.
public func geluNaive(_ x: Float) -> Float {
    let d = Double(x)
    return Float(0.5 * d * (1 + Foundation.tanh(Double(geluScale) * (d + 0.044715 * d * d * d))))
}

/// Reference derivative of the tanh-form GELU in Double.
public func geluDerivativeNaive(_ x: Float) -> Float {
    let d = Double(x), c = Double(geluScale)
    let t = Foundation.tanh(c * (d + 0.044715 * d * d * d))
    return Float(0.5 * (1 + t) + 0.5 * d * (1 - t * t) * c * (1 + 3 * 0.044715 * d * d))
}
