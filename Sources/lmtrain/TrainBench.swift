import ArgumentParser
import Foundation
import Kernels
import Model
import Training

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train",
        abstract: "Time training steps (forward, fused loss, backward, AdamW) of a GPT on random tokens.")
    @Option var vocabSize: Int = 8192
    @Option var dModel: Int = 256
    @Option var layers: Int = 4
    @Option var heads: Int = 4
    @Option var context: Int = 128
    @Option var batchSize: Int = 16
    @Option var smoothing: Float = 0.1
    @Option(help: "fp32, or bf16 (matrix-product operands rounded to bfloat16, FP32 sums; needs AVX512-BF16 or AMX-BF16).")
    var matmulPrecision: MatmulPrecision = .fp32
    @Option(help: "stored (the T×T probabilities) or streaming (online softmax, memory linear in T); default by context.")
    var attention: AttentionAlgorithm?
    @OptionGroup var timing: BenchTiming

    func validate() throws { try checkAvailable(matmulPrecision) }

    func run() throws {
        let cfg = GPTConfig(vocabSize: vocabSize, context: context, dModel: dModel, layers: layers, heads: heads, dropout: 0)
        if let p = cfg.problem { throw ValidationError(p) }
        let model = GPT(config: cfg, pool: ThreadPool(threads: timing.threads, matmulPrecision: matmulPrecision), attention: attention)
        model.initialize(seed: 1)
        let opt = AdamW(layout: model.layout)
        let N = batchSize * context
        var rng = GaussianRNG(seed: 2)
        let ids = (0..<N).map { _ in Int32(rng.uniform() * Double(vocabSize)) }
        let targets = (0..<N).map { _ in Int32(rng.uniform() * Double(vocabSize)) }
        let hyper = AdamWHyper(lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let (t, _) = timing.measure {
            model.grads.zero()
            _ = model.trainStep(ids: ids, targets: targets, B: batchSize, T: context, loss: .init(smoothing: smoothing),
                                gradScale: 1 / Float(N), dropoutSeed: 0)
            clipGradientNorm(model.grads.base, count: model.layout.count, maxNorm: 1, pool: model.pool)
            opt.update(params: model.params, grads: model.grads, hyper: hyper, pool: model.pool)
        }
        let (te, _) = timing.measure {
            _ = model.evaluate(ids: ids, targets: targets, B: batchSize, T: context)
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let flops = cfg.trainingFlopsPerToken(sequence: context) * Double(N)
        struct Result: Encodable {
            var bench = "train"
            let params: Int, matmulPrecision: MatmulPrecision, attention: AttentionAlgorithm, threads: Int
            let stepS, trainTokensPerS, evalTokensPerS, gflops, peakRssMb: Double
        }
        try sayJSON(Result(params: cfg.parameterCount, matmulPrecision: matmulPrecision, attention: model.attention, threads: timing.threads, stepS: t,
                           trainTokensPerS: Double(N) / t, evalTokensPerS: Double(N) / te, gflops: flops / t / 1e9,
                           peakRssMb: Double(usage.ru_maxrss) / 1024))
    }
}
