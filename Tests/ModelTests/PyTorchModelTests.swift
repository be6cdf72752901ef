import Foundation
import Kernels
import Model
import Testing
import Training
import TestSupport

/// The tiny GPT of scripts/make_model_fixture.py, built here from the same weights.
func fixtureModel() throws -> (GPT, SafeTensors) {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gpt_tiny.safetensors").path
    let f = try SafeTensors(path: path)
    let cfg = GPTConfig(vocabSize: 61, context: 8, dModel: 16, layers: 2, heads: 2, dropout: 0)
    let model = GPT(config: cfg, pool: ThreadPool(threads: 2))
    for t in model.layout.tensors { try f.read(t.name, into: model.params.base + t.offset, shape: t.shape) }
    return (model, f)
}

@Suite struct PyTorchModelTests {
    /// Logits of every position. Tolerance 1e-5 + 1e-4 relative (float32, different summation order).
    @Test func logitsMatchPyTorch() throws {
        let (model, f) = try fixtureModel()
        let ids = try f.int32s("input.ids")
        var logits = [Float](repeating: .nan, count: 2 * 8 * 61)
        logits.withUnsafeMutableBufferPointer { model.logits(ids: ids, B: 2, T: 8, into: $0.baseAddress!) }
        let w = worstError(logits, try f.floats("expected.logits"), atol: 1e-5, rtol: 1e-4)
        #expect(w <= 1, "worst \(w)")
    }

    /// Loss (ε = 0.1, one ignored target) and the gradient of every parameter tensor, by name.
    /// Tolerance on gradients: 1e-6 absolute + 1e-3 relative per element.
    @Test func lossAndEveryGradientMatchPyTorch() throws {
        let (model, f) = try fixtureModel()
        let ids = try f.int32s("input.ids"), targets = try f.int32s("input.targets")
        let counted = targets.filter { $0 != -100 }.count
        model.grads.zero()
        let st = model.trainStep(ids: ids, targets: targets, B: 2, T: 8, loss: .init(smoothing: 0.1),
                                 gradScale: 1 / Float(counted), dropoutSeed: 0)
        let loss = try f.floats("expected.loss")[0], nll = try f.floats("expected.nll")[0]
        #expect(abs(Float(st.loss) / Float(st.count) - loss) < 1e-5 * max(1, loss))
        #expect(abs(Float(st.nll) / Float(st.count) - nll) < 1e-5 * max(1, nll))
        #expect(st.count == counted)
        for t in model.layout.tensors {
            let got = Array(UnsafeBufferPointer(start: model.grads.base + t.offset, count: t.count))
            let want = try f.floats("grad." + t.name)
            let w = worstError(got, want, atol: 1e-6, rtol: 1e-3)
            #expect(w <= 1, "gradient of \(t.name): worst \(w)")
        }
    }

    /// Ten AdamW steps (decay on matrices only) reproduce PyTorch's losses.
    @Test func tenAdamWStepsMatchPyTorch() throws {
        let (model, f) = try fixtureModel()
        let ids = try f.int32s("input.ids"), targets = try f.int32s("input.targets")
        let counted = Float(targets.filter { $0 != -100 }.count)
        let opt = AdamW(layout: model.layout)
        var losses: [Float] = []
        for _ in 0..<10 {
            model.grads.zero()
            let st = model.trainStep(ids: ids, targets: targets, B: 2, T: 8, loss: .init(smoothing: 0.1),
                                     gradScale: 1 / counted, dropoutSeed: 0)
            losses.append(Float(st.loss) / counted)
            opt.update(params: model.params, grads: model.grads, hyper: AdamWHyper(lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1),
                       pool: model.pool)
        }
        let want = try f.floats("expected.adamw_losses")
        #expect(worstError(losses, want, atol: 1e-5, rtol: 1e-4) <= 1, "\(losses) vs \(want)")
    }
}
