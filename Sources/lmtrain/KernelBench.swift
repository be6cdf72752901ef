import ArgumentParser
import Foundation
import Kernels

/// Shared options of the kernel benchmarks.
struct BenchTiming: ParsableArguments {
    @Option(help: "Worker threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Timed repetitions; the median is reported.") var repeats: Int = 15
    @Option(help: "Untimed warm-up repetitions.") var warmup: Int = 3

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
    }

    /// Median seconds of `body` over the repetitions, after the warm-up.
    func measure(_ body: () -> Void) -> (median: Double, all: [Double]) {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return (median(times), times)
    }
}


/// Refuses a matmul precision this CPU cannot run, saying what to use instead.
func checkAvailable(_ precision: MatmulPrecision) throws {
    if let reason = precision.unavailableReason { throw ValidationError(reason) }
}

/// Random floats in [-1, 1) from a seeded generator.
func randomBuffer(_ count: Int, seed: UInt64) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    var rng = SplitMix64(seed: seed)
    for i in 0..<count { p[i] = Float(rng.uniform() * 2 - 1) }
    return p
}

struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "Time C = op(A)·op(B).")
    @Option var m: Int = 1024
    @Option var k: Int = 1024
    @Option var n: Int = 1024
    @Flag(name: .customLong("transpose-a"), help: "Use Aᵀ (A stored k×m).") var transA = false
    @Flag(name: .customLong("transpose-b"), help: "Use Bᵀ (B stored n×k).") var transB = false
    @Option(help: "fp32, or bf16 (operands rounded to bfloat16, FP32 sums; needs AVX512-BF16 or AMX-BF16).")
    var matmulPrecision: MatmulPrecision = .fp32
    @OptionGroup var timing: BenchTiming

    func validate() throws {
        if m < 1 || n < 1 || k < 1 { throw ValidationError("--m, --k and --n must be at least 1") }
        try checkAvailable(matmulPrecision)
    }

    func run() throws {
        let a = randomBuffer(m * k, seed: 1), b = randomBuffer(k * n, seed: 2), c = randomBuffer(m * n, seed: 3)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        let pool = ThreadPool(threads: timing.threads, matmulPrecision: matmulPrecision)
        let lda = transA ? m : k, ldb = transB ? k : n
        let (t, all) = timing.measure {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                  beta: 0, c: c, ldc: n, pool: pool)
        }
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        struct Result: Encodable {
            var kernel = "sgemm"
            let kernelVariant: String, m: Int, k: Int, n: Int, transposeA: Bool, transposeB: Bool, threads: Int
            let seconds, gflops, gflopsMin, gflopsMax: Double
        }
        try sayJSON(Result(kernelVariant: GemmKernel.forPrecision(matmulPrecision).name, m: m, k: k, n: n, transposeA: transA,
                           transposeB: transB, threads: timing.threads, seconds: t, gflops: flops / t / 1e9,
                           gflopsMin: flops / all.max()! / 1e9, gflopsMax: flops / all.min()! / 1e9))
    }
}

struct SoftmaxBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "softmax", abstract: "Time row softmax (out of place).")
    @Option var rows: Int = 4096
    @Option var cols: Int = 8192
    @Flag(help: "Log-softmax instead.") var log = false
    @OptionGroup var timing: BenchTiming

    func run() throws {
        let x = randomBuffer(rows * cols, seed: 4), y = randomBuffer(rows * cols, seed: 5)
        defer { x.deallocate(); y.deallocate() }
        let pool = ThreadPool(threads: timing.threads)
        let (t, _) = timing.measure {
            if log { logSoftmaxRows(out: y, input: x, rows: rows, cols: cols, pool: pool) }
            else { softmaxRows(out: y, input: x, rows: rows, cols: cols, pool: pool) }
        }
        let bytes = 2.0 * Double(rows * cols * 4)
        try sayJSON(RowKernelResult(kernel: log ? "log_softmax" : "softmax", rows: rows, cols: cols, threads: timing.threads,
                                    ms: t * 1e3, gbPerS: bytes / t / 1e9))
    }
}

struct CrossEntropyBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cross-entropy",
        abstract: "Time the fused label-smoothed cross-entropy, forward + gradient in place.")
    @Option var rows: Int = 4096
    @Option var vocab: Int = 8192
    @Option var smoothing: Float = 0.1
    @OptionGroup var timing: BenchTiming

    func run() throws {
        let src = randomBuffer(rows * vocab, seed: 6), z = UnsafeMutablePointer<Float>.allocate(capacity: rows * vocab)
        defer { src.deallocate(); z.deallocate() }
        let targets = (0..<rows).map { Int32(($0 * 7919) % vocab) }
        let pool = ThreadPool(threads: timing.threads)
        // The copy restoring the logits is timed separately and subtracted: the kernel overwrites its input.
        let (tc, _) = timing.measure { z.update(from: src, count: rows * vocab) }
        let (t, _) = timing.measure {
            z.update(from: src, count: rows * vocab)
            _ = crossEntropy(logits: z, targets: targets, rows: rows, vocab: vocab, smoothing: smoothing,
                             gradScale: 1 / Float(rows), pool: pool)
        }
        let kernel = max(t - tc, 1e-9)
        let bytes = 2.0 * Double(rows * vocab * 4)
        try sayJSON(RowKernelResult(kernel: "cross_entropy", rows: rows, vocab: vocab, threads: timing.threads, ms: kernel * 1e3,
                                    gbPerS: bytes / kernel / 1e9))
    }
}

/// The last line of the row-wise kernel benches (softmax: rows × cols; cross-entropy: rows × vocab).
struct RowKernelResult: Encodable {
    let kernel: String
    let rows: Int
    var cols: Int? = nil, vocab: Int? = nil
    let threads: Int
    let ms, gbPerS: Double
}
