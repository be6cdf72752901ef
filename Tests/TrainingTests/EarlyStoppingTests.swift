import Foundation
import Kernels
import Model
import Runs
import Testing
import Training

/// Early stopping and the best checkpoint. The model trains on one fixed document and validates on another
/// ordering of the same ids, so validation NLL first falls (it learns which ids occur) and then rises (it learns
/// the training order, which is wrong for the validation one): a real overfit, with a best step in between.
@Suite struct EarlyStoppingTests {
    let config = GPTConfig(vocabSize: 50, context: 16, dModel: 32, layers: 2, heads: 4, dropout: 0)

    func trainer(run: String, patience: Int?, resume: Bool, steps: Int = 400) throws -> Trainer {
        var o = TrainOptions()
        o.steps = steps; o.batchSize = 4; o.lr = 1e-2; o.warmup = 5
        o.evalEvery = 5; o.checkpointEvery = 1_000_000; o.logEvery = 1_000_000; o.threads = 2; o.evalTokens = 512
        o.patience = patience
        return try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: o, run: run,
                           train: syntheticStream(vocab: 50, length: 3000, seed: 1),
                           valid: syntheticStream(vocab: 50, length: 600, seed: 2), eos: 3, prior: nil, resume: resume)
    }

    func validations(_ run: String) throws -> [(step: Int, nll: Double)] {
        try String(contentsOfFile: RunPaths(run).metrics, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["split"] as? String == "valid" }
            .map { ($0["step"] as! Int, $0["nll"] as! Double) }
    }

    @Test func stopsAfterPatienceAndKeepsTheBestWeights() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let t = try trainer(run: run, patience: 3, resume: false)
        var bests: [Int] = []
        let outcome = try t.run(shouldStop: { false }) { if case .best(let step, _) = $0 { bests.append(step) } }
        #expect(outcome == .stoppedEarly && t.state.step < 400, "\(outcome) at step \(t.state.step)")
        let v = try validations(run)
        let best = try #require(v.min { $0.nll < $1.nll })
        // The best is the minimum, the three validations after it are all worse, and the run stopped there.
        #expect(t.state.bestStep == best.step && t.state.bestScore == best.nll, "\(v)")
        #expect(v.last!.step == best.step + 15 && v.filter { $0.step > best.step }.count == 3, "\(v)")
        #expect(bests.last == best.step && bests == bests.sorted())
        // model.best.safetensors holds the weights of that step: they validate to its NLL again.
        let model = GPT(config: config, pool: ThreadPool(threads: 2))
        #expect(try WeightsFile.load(path: RunPaths(run).bestWeights, into: model) == best.step)
        let check = try trainer(run: run, patience: 3, resume: true)
        _ = try WeightsFile.load(path: RunPaths(run).bestWeights, into: check.task.trainable)
        #expect(check.validate().nll == best.nll)
        // A resumed run whose patience is spent stops at once, training nothing more.
        let again = try trainer(run: run, patience: 3, resume: true)
        let stepBefore = again.state.step
        #expect(try again.run(shouldStop: { false }) { _ in } == .stoppedEarly && again.state.step == stepBefore)
    }

    /// Without --patience the run trains its whole budget and still keeps its best validation's weights.
    @Test func withoutPatienceTheBestIsKeptAndTrainingGoesOn() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let t = try trainer(run: run, patience: nil, resume: false, steps: 60)
        #expect(try t.run(shouldStop: { false }) { _ in } == .finished && t.state.step == 60)
        let v = try validations(run)
        let best = try #require(v.min { $0.nll < $1.nll })
        #expect(t.state.bestStep == best.step)
        #expect(try WeightsFile.load(path: RunPaths(run).bestWeights, into: GPT(config: config, pool: ThreadPool(threads: 1))) == best.step)
    }
}
