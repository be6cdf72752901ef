import Kernels

// Dims legend: N rows (positions), In input features, Out output features. Weights are [In, Out] (GPT-2's
// Conv1D layout), so the forward product is the plain x·W.

/// out = x·W + b, and geluOut = GELU(out) when given. Both are the GEMM's epilogue: applied to each tile as
/// it is finished, which saves a pass over the output for each.
@inline(__always)
func linearForward(out: UnsafeMutablePointer<Float>,   // [N, Out]
                   input: UnsafePointer<Float>,        // [N, In]
                   weight: UnsafePointer<Float>,       // [In, Out]
                   bias: UnsafePointer<Float>?,        // [Out]
                   geluOut: UnsafeMutablePointer<Float>? = nil,   // [N, Out]
                   N: Int, In: Int, Out: Int, pool: ThreadPool) {
    sgemm(transA: false, transB: false, m: N, n: Out, k: In, alpha: 1, a: input, lda: In, b: weight, ldb: Out,
          beta: 0, c: out, ldc: Out, bias: bias, geluOut: geluOut, pool: pool)
}

/// Backward of `linearForward`: dW += xᵀ·dout, db += Σ_rows dout, dinput = dout·Wᵀ (overwritten, or added
/// to when `accumulateInput`). With `geluInput` (the pre-activation x of an input that was GELU(x)), dinput
/// is ∂loss/∂x instead: the product times GELU'(x), as the GEMM's epilogue (overwriting only: with
/// `accumulateInput` the epilogue would scale the old contents too).
@inline(__always)
func linearBackward(dinput: UnsafeMutablePointer<Float>,   // [N, In]
                    dweight: UnsafeMutablePointer<Float>,  // [In, Out], accumulated into
                    dbias: UnsafeMutablePointer<Float>?,   // [Out], accumulated into
                    dout: UnsafePointer<Float>,            // [N, Out]
                    input: UnsafePointer<Float>,           // [N, In]
                    weight: UnsafePointer<Float>,          // [In, Out]
                    geluInput: UnsafePointer<Float>? = nil,   // [N, In]
                    N: Int, In: Int, Out: Int, accumulateInput: Bool = false, pool: ThreadPool) {
    sgemm(transA: true, transB: false, m: In, n: Out, k: N, alpha: 1, a: input, lda: In, b: dout, ldb: Out,
          beta: 1, c: dweight, ldc: Out, pool: pool)
    if let dbias { biasBackward(dbias: dbias, dout: dout, rows: N, cols: Out, pool: pool) }
    sgemm(transA: false, transB: true, m: N, n: In, k: Out, alpha: 1, a: dout, lda: Out, b: weight, ldb: Out,
          beta: accumulateInput ? 1 : 0, c: dinput, ldc: In, geluGradInput: geluInput, pool: pool)
}
