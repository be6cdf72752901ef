import Foundation
import Kernels
import Model
import Testing
import Datasets
import Evaluation
import Runs
import Training

func tempRun() -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-run-\(UUID())").path
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A repeating synthetic corpus: documents of 23 distinct ids, each ended by `<eos>` (id 3) as real text is,
/// so one token of context determines the next and a model can learn it exactly.
func syntheticStream(vocab: Int, length: Int, seed: UInt64) -> [Int32] {
    var rng = GaussianRNG(seed: seed)
    var ids = Array(Int32(4)..<Int32(vocab))
    for i in stride(from: ids.count - 1, to: 0, by: -1) { ids.swapAt(i, Int(rng.uniform() * Double(i + 1))) }
    let document = Array(ids.prefix(23)) + [3]
    return (0..<length).map { document[$0 % document.count] }
}

@Suite struct TrainingTests {
    let config = GPTConfig(vocabSize: 50, context: 16, dModel: 32, layers: 2, heads: 4, dropout: 0.1)

    func options(steps: Int, smoothing: Float = 0.1) -> TrainOptions {
        var o = TrainOptions()
        o.steps = steps; o.batchSize = 4; o.lr = 3e-3; o.warmup = 5; o.smoothing = smoothing
        o.evalEvery = 5; o.checkpointEvery = 1000; o.logEvery = 1; o.threads = 2; o.evalTokens = 256
        return o
    }

    /// 10 steps, stop, resume, 10 more steps equals 20 uninterrupted steps bit for bit: the batcher state,
    /// dropout seeds, AdamW moments and step count all come back from the checkpoint, and every kernel sums
    /// in an order fixed by the thread count (work claiming changes who computes a tile, not how).
    @Test func resumeIsBitwiseEquivalent() throws {
        let train = syntheticStream(vocab: 50, length: 3000, seed: 1), valid = syntheticStream(vocab: 50, length: 300, seed: 2)
        let straight = tempRun(), split = tempRun()
        defer { try? FileManager.default.removeItem(atPath: straight); try? FileManager.default.removeItem(atPath: split) }
        let a = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: options(steps: 20), run: straight,
                            train: train, valid: valid, eos: 3, prior: nil, resume: false)
        _ = try a.run(shouldStop: { false }) { _ in }
        var stopAfter10 = 0
        let b = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: options(steps: 20), run: split,
                            train: train, valid: valid, eos: 3, prior: nil, resume: false)
        let outcome = try b.run(shouldStop: { stopAfter10 >= 10 }) { e in if case .step = e { stopAfter10 += 1 } }
        #expect(outcome == .interrupted && b.state.step == 10)
        let c = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: options(steps: 20), run: split,
                            train: train, valid: valid, eos: 3, prior: nil, resume: true)
        #expect(c.state.step == 10)
        _ = try c.run(shouldStop: { false }) { _ in }
        var sa = a.state, sc = c.state
        sa.elapsed = 0; sc.elapsed = 0   // wall-clock time, the one thing allowed to differ
        #expect(c.state.step == 20 && sa == sc)
        let pa = Array(UnsafeBufferPointer(start: a.model.params.base, count: a.model.layout.count))
        let pc = Array(UnsafeBufferPointer(start: c.model.params.base, count: c.model.layout.count))
        #expect(pa == pc, "weights after 20 steps differ from 10 + resume + 10")
        let ma = try String(contentsOfFile: straight + "/metrics.jsonl", encoding: .utf8)
        let mc = try String(contentsOfFile: split + "/metrics.jsonl", encoding: .utf8)
        func losses(_ s: String) -> [String] { s.split(separator: "\n").filter { !$0.contains("valid") }.map { String($0.split(separator: ",").first { $0.contains("\"loss\"") } ?? "") } }
        #expect(losses(ma) == losses(mc))
    }

    /// With ε = 0 and no dropout a small model memorises a repeating corpus: NLL near zero.
    @Test func overfitsATinyCorpus() throws {
        var cfg = config
        cfg.dropout = 0
        let train = syntheticStream(vocab: 50, length: 2000, seed: 3)
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        var o = options(steps: 200, smoothing: 0)
        o.lr = 1e-2
        o.weightDecay = 0
        let t = try Trainer(model: GPT(config: cfg, pool: ThreadPool(threads: 2)), options: o, run: run,
                            train: train, valid: Array(train.prefix(200)), eos: 3, prior: nil, resume: false)
        var last: ValidationReport? = nil
        _ = try t.run(shouldStop: { false }) { e in if case .validation(let v) = e { last = v } }
        #expect(last != nil && last!.nll < 0.05, "validation NLL \(last?.nll ?? .nan)")
        #expect(last!.accuracy > 0.97)
    }

    /// Label smoothing shows in the logged numbers the way it should: once the model is confident, the smoothed
    /// loss ((1−ε)·NLL + ε·mean −log p) is above the NLL (near-uniform predictions at the start make them equal).
    @Test func smoothedLossAndNLLAreReportedApart() throws {
        let train = syntheticStream(vocab: 50, length: 2000, seed: 4)
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let t = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: options(steps: 30, smoothing: 0.2), run: run,
                            train: train, valid: Array(train.prefix(200)), eos: 3, prior: nil, resume: false)
        var reports: [StepReport] = []
        _ = try t.run(shouldStop: { false }) { e in if case .step(let r) = e { reports.append(r) } }
        #expect(reports.count == 30)
        #expect(reports.suffix(10).allSatisfy { $0.loss > $0.nll + 0.1 })
        #expect(reports.last!.nll < reports.first!.nll)
    }

    /// A language model's per-token scores (`eval --tokens`) add up to the stream evaluation of the same ids:
    /// one window per T predicted tokens (the last one shorter, on an awkward length), Σ −log p = the NLL, Σ
    /// confidence and the correct count as the fused kernel's, ids = the stream in order; B does not matter.
    @Test func streamTokenScoresAddUpToTheStreamEvaluation() throws {
        let model = GPT(config: config, pool: ThreadPool(threads: 2))
        let ids = syntheticStream(vocab: 50, length: 257, seed: 5)
        let T = config.context
        let st = StreamEvaluator.evaluate(model: model, ids: ids, eos: 3, B: 3, T: T)
        let scores = StreamEvaluator.tokenScores(model: model, ids: ids, eos: 3, B: 3, T: T)
        #expect(scores.count == (257 + T - 1) / T)
        #expect(scores.dropLast().allSatisfy { $0.ids.count == T } && scores.last!.ids.count == 257 % T)
        #expect(scores.flatMap(\.ids) == ids)
        let nll = scores.reduce(0.0) { $0 + $1.probability.reduce(0.0) { $0 - Foundation.log(Double($1)) } }
        let conf = scores.reduce(0.0) { $0 + $1.confidence.reduce(0.0) { $0 + Double($1) } }
        #expect(abs(nll - st.nll) < 1e-4 * st.nll, "Σ −log p \(nll) vs NLL \(st.nll)")
        #expect(abs(conf - st.confidence) < 1e-4 * st.confidence, "Σ confidence \(conf) vs \(st.confidence)")
        #expect(scores.reduce(0) { $0 + $1.correct.filter { $0 }.count } == st.correct)
        #expect(StreamEvaluator.tokenScores(model: model, ids: ids, eos: 3, B: 7, T: T) == scores)
    }

    @Test func incrementalDecodingMatchesTheFullForwardPass() throws {
        let model = GPT(config: config, pool: ThreadPool(threads: 2))
        model.initialize(seed: 9)
        let ids: [Int32] = (0..<16).map { Int32(($0 * 7 + 3) % 50) }
        var full = [Float](repeating: 0, count: 16 * 50)
        full.withUnsafeMutableBufferPointer { model.logits(ids: ids, B: 1, T: 16, into: $0.baseAddress!) }
        let cache = KVCache(config: config, batch: 1)
        var step = [Float](repeating: 0, count: 50)
        for t in 0..<16 {
            step.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[t]], cache: cache, logits: $0.baseAddress!) }
            let worst = (0..<50).map { abs(step[$0] - full[t * 50 + $0]) }.max()!
            #expect(worst < 1e-4, "position \(t): \(worst)")
        }
        // Reordering rows by origin: two rows, swapped, keep their own continuations.
        let pair = KVCache(config: config, batch: 2)
        var two = [Float](repeating: 0, count: 100)
        for t in 0..<5 { two.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[t], ids[t + 5]], cache: pair, logits: $0.baseAddress!) } }
        pair.reorder(origins: [1, 0])
        two.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[10], ids[5]], cache: pair, logits: $0.baseAddress!) }
        let single = KVCache(config: config, batch: 1)
        for t in 5..<10 { step.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[t]], cache: single, logits: $0.baseAddress!) } }
        step.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[10]], cache: single, logits: $0.baseAddress!) }
        #expect((0..<50).allSatisfy { abs(two[$0] - step[$0]) < 1e-4 })
    }

    /// Prepared weights: packed FP32 gives the unprepared steps' logits bit for bit, int8 within 2 % of their range.
    @Test(arguments: [ComputeType.fp32, .int8])
    func incrementalDecodingWithPreparedWeights(computeType: ComputeType) throws {
        let model = GPT(config: config, pool: ThreadPool(threads: 2))
        model.initialize(seed: 9)
        let ids: [Int32] = (0..<16).map { Int32(($0 * 5 + 1) % 50) }
        let weights = GPTInferenceWeights(model: model, computeType: computeType)
        let plain = KVCache(config: config, batch: 2), prepared = KVCache(config: config, batch: 2)
        var a = [Float](repeating: .nan, count: 100), b = a
        var identical = true, worst: Float = 0, range: Float = 0
        for t in 0..<8 {
            a.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[t], ids[t + 8]], cache: plain, logits: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { model.decodeStep(tokens: [ids[t], ids[t + 8]], cache: prepared, logits: $0.baseAddress!, weights: weights) }
            identical = identical && a == b
            for i in 0..<100 { worst = max(worst, abs(a[i] - b[i])); range = max(range, abs(a[i])) }
        }
        if computeType == .fp32 {
            #expect(identical, "packed FP32 weights must give the same logits bit for bit (max |Δ| \(worst))")
        } else {
            #expect(!identical && range > 0.05 && worst < 0.02 * range, "int8: max |Δlogit| \(worst) of \(range)")
        }
    }

    @Test func corruptCheckpointIsRejectedBeforeLoading() throws {
        let train = syntheticStream(vocab: 50, length: 1000, seed: 5)
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let t = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: options(steps: 2), run: run,
                            train: train, valid: Array(train.prefix(100)), eos: 3, prior: nil, resume: false)
        _ = try t.run(shouldStop: { false }) { _ in }
        let path = run + "/model.safetensors"
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(full.count - 100).write(to: URL(fileURLWithPath: path))
        let fresh = GPT(config: config, pool: ThreadPool(threads: 1))
        fresh.params.base.update(repeating: 42, count: fresh.layout.count)
        #expect { _ = try Checkpoint.loadWeights(run: run, into: fresh) } throws: { "\($0)".contains("corrupt or truncated") }
        #expect((0..<fresh.layout.count).allSatisfy { fresh.params.base[$0] == 42 }, "weights were half-loaded")
    }
}
