import Foundation
import Kernels
import Model
import Testing
import TestSupport

/// A GPT whose self-attention streams (no stored probabilities) trains like one that stores them: the same
/// loss and gradients to float rounding, on a context that spans several of the kernel's blocks.
@Suite struct StreamingAttentionModelTests {
    @Test func streamingAndStoredAttentionGiveTheSameStep() {
        let cfg = GPTConfig(vocabSize: 37, context: 200, dModel: 32, layers: 2, heads: 4, dropout: 0.1)
        let stored = GPT(config: cfg, pool: ThreadPool(threads: 2), attention: .stored)
        let streaming = GPT(config: cfg, pool: ThreadPool(threads: 2), attention: .streaming)
        stored.initialize(seed: testSeed())
        streaming.params.base.update(from: stored.params.base, count: stored.layout.count)
        var rng = SeededGenerator(seed: testSeed(1))
        let B = 2, T = 200
        let ids = (0..<(B * T)).map { _ in Int32(rng.next() % 37) }, targets = (0..<(B * T)).map { _ in Int32(rng.next() % 37) }
        stored.grads.zero(); streaming.grads.zero()
        let a = stored.trainStep(ids: ids, targets: targets, B: B, T: T, loss: .init(smoothing: 0.1), gradScale: 1, dropoutSeed: 7)
        let b = streaming.trainStep(ids: ids, targets: targets, B: B, T: T, loss: .init(smoothing: 0.1), gradScale: 1, dropoutSeed: 7)
        #expect(abs(a.loss - b.loss) <= 1e-5 * abs(a.loss), "loss \(a.loss) vs \(b.loss)")
        var worst: Float = 0, scale: Float = 0
        for i in 0..<stored.layout.count {
            worst = max(worst, abs(stored.grads.base[i] - streaming.grads.base[i])); scale = max(scale, abs(stored.grads.base[i]))
        }
        #expect(scale > 0 && worst <= 1e-4 * scale, "max |Δgrad| \(worst) of \(scale)")
    }
}
