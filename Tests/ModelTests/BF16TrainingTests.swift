import Foundation
import Kernels
import Model
import Testing
import Training
import TestSupport

/// A GPT whose pool computes products in bf16 against the same GPT in FP32, from the same weights: the loss
/// and every gradient agree to bf16's precision, and training follows the same course. A wrong layout or a
/// missed transpose in the bf16 path gives unrelated gradients (cosine near 0), far outside these bounds.
@Suite(.enabled(if: MatmulPrecision.bf16.isAvailable, "this CPU has neither AVX512-BF16 nor AMX-BF16"))
struct BF16TrainingTests {
    static let cfg = GPTConfig(vocabSize: 300, context: 32, dModel: 64, layers: 2, heads: 4, dropout: 0)

    static func pair(seed: UInt64) -> (GPT, GPT) {
        let fp32 = GPT(config: cfg, pool: ThreadPool(threads: 2))
        let bf16 = GPT(config: cfg, pool: ThreadPool(threads: 2, matmulPrecision: .bf16))
        fp32.initialize(seed: seed)
        bf16.params.base.update(from: fp32.params.base, count: fp32.layout.count)
        return (fp32, bf16)
    }

    static func batch(seed: UInt64) -> (ids: [Int32], targets: [Int32]) {
        var rng = GaussianRNG(seed: seed)
        // A learnable pattern (each token predicts the next of a fixed cycle) plus noise.
        var ids: [Int32] = []
        for i in 0..<(4 * 32) {
            let noise = Int(rng.uniform() * 3)
            ids.append(Int32((i * 7 + noise) % 300))
        }
        let targets: [Int32] = ids.map { id in (id * 11 + 5) % 300 }
        return (ids, targets)
    }

    @Test func lossAndEveryGradientMatchFP32() {
        let seed = testSeed()
        let (fp32, bf16) = Self.pair(seed: seed)
        let (ids, targets) = Self.batch(seed: seed ^ 1)
        var losses: [Double] = []
        for model in [fp32, bf16] {
            model.grads.zero()
            let st = model.trainStep(ids: ids, targets: targets, B: 4, T: 32, loss: .init(smoothing: 0.1),
                                     gradScale: 1 / 128, dropoutSeed: 0)
            losses.append(st.loss / 128)
        }
        #expect(abs(losses[0] - losses[1]) <= 1e-2 * abs(losses[0]), "seed \(seed): \(losses)")
        for t in fp32.layout.tensors {
            var dot = 0.0, n32 = 0.0, n16 = 0.0
            for i in t.offset..<(t.offset + t.count) {
                let x = Double(fp32.grads.base[i]), y = Double(bf16.grads.base[i])
                dot += x * y; n32 += x * x; n16 += y * y
            }
            let cosine = dot / max(1e-30, (n32 * n16).squareRoot())
            #expect(cosine >= 0.999, "seed \(seed) \(t.name): cosine \(cosine)")
            #expect(abs(n16.squareRoot() - n32.squareRoot()) <= 0.01 * n32.squareRoot(), "seed \(seed) \(t.name): norms \(n32.squareRoot()) vs \(n16.squareRoot())")
        }
    }

    @Test func trainsLikeFP32() {
        let seed = testSeed()
        let (fp32, bf16) = Self.pair(seed: seed)
        let (ids, targets) = Self.batch(seed: seed ^ 1)
        let hyper = AdamWHyper(lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        var curves: [[Double]] = []
        for model in [fp32, bf16] {
            let opt = AdamW(layout: model.layout)
            var curve: [Double] = []
            for _ in 0..<40 {
                model.grads.zero()
                let st = model.trainStep(ids: ids, targets: targets, B: 4, T: 32, loss: .init(smoothing: 0),
                                         gradScale: 1 / 128, dropoutSeed: 0)
                curve.append(st.loss / 128)
                opt.update(params: model.params, grads: model.grads, hyper: hyper, pool: model.pool)
            }
            curves.append(curve)
        }
        // Both learn the batch (NLL from ln 300 ≈ 5.7 to well under 1), and end within 0.05 nats of each other.
        #expect(curves[0].last! < 1 && curves[1].last! < 1, "seed \(seed): \(curves[0].last!) \(curves[1].last!)")
        #expect(abs(curves[0].last! - curves[1].last!) < 0.05, "seed \(seed): \(curves[0].last!) \(curves[1].last!)")
    }
}
