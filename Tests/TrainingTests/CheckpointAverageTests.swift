import Foundation
import Kernels
import Model
import Testing
import Datasets
import Runs
import Training

@Suite struct CheckpointAverageTests {
    let config = GPTConfig(vocabSize: 50, context: 16, dModel: 32, layers: 2, heads: 4, dropout: 0.1)

    /// A run keeping 3 snapshots out of 5 checkpoints: the oldest are deleted, and the average of the kept ones
    /// equals their element-wise mean computed here from the files, tensor by tensor.
    @Test func keptSnapshotsAverageToTheirElementwiseMean() throws {
        let train = syntheticStream(vocab: 50, length: 2000, seed: 11)
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        var o = TrainOptions()
        o.steps = 10; o.batchSize = 4; o.lr = 3e-3; o.warmup = 2; o.evalEvery = 100; o.logEvery = 5; o.threads = 2
        o.evalTokens = 128; o.checkpointEvery = 2; o.keepCheckpoints = 3
        let t = try Trainer(model: GPT(config: config, pool: ThreadPool(threads: 2)), options: o, run: run,
                            train: train, valid: Array(train.prefix(200)), eos: 3, prior: nil, resume: false)
        _ = try t.run(shouldStop: { false }) { _ in }
        let kept = try Checkpoint.snapshots(run: run)
        #expect(kept.map(\.step) == [6, 8, 10])

        let out = run + "/avg.safetensors"
        try CheckpointAverage.average(paths: kept.map(\.path), to: out)
        let files = try kept.map { try SafeTensors(path: $0.path) }
        let avg = try SafeTensors(path: out)
        #expect(avg.metadata["averaged_steps"] == "6,8,10")
        var worst: Float = 0, spread: Float = 0
        for (name, e) in files[0].entries {
            let xs = try files.map { try $0.floats(name) }
            let a = try avg.floats(name)
            #expect(a.count == e.count)
            for i in 0..<e.count {
                let mean = (xs[0][i] + xs[1][i] + xs[2][i]) / 3
                worst = max(worst, abs(a[i] - mean))
                spread = max(spread, abs(xs[0][i] - xs[2][i]))
            }
        }
        #expect(worst < 1e-6, "average differs from the mean by \(worst)")
        #expect(spread > 1e-4, "the snapshots should differ (training moved the weights)")
        // The average loads into the model like any checkpoint.
        let model = GPT(config: config, pool: ThreadPool(threads: 1))
        #expect(try WeightsFile.load(path: out, into: model) == 10)
    }

    /// Configs are compared as JSON values: runs written before the keys were sorted stored the same config
    /// with its keys in varying order, and their snapshots must still average.
    @Test func configKeyOrderDoesNotMatter() throws {
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let w: [Float] = [1, 2, 3, 4], v: [Float] = [3, 4, 5, 6]
        let orders = ["{\"a\":1,\"b\":[2,3]}", "{\"b\":[2,3],\"a\":1}"]
        var paths: [String] = []
        for (i, (x, config)) in zip([w, v], orders).enumerated() {
            let data = try x.withUnsafeBufferPointer {
                try SafeTensors.serialize([SafeTensors.Tensor("t", shape: [2, 2], floats: $0.baseAddress!)],
                                          metadata: ["format": "lmtrain-gpt", "config": config, "step": "\(i + 1)"])
            }
            let path = run + "/s\(i).safetensors"
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        try CheckpointAverage.average(paths: paths, to: run + "/avg.safetensors")
        #expect(try SafeTensors(path: run + "/avg.safetensors").floats("t") == [2, 3, 4, 5])
        // A config that really differs is refused.
        let other = try w.withUnsafeBufferPointer {
            try SafeTensors.serialize([SafeTensors.Tensor("t", shape: [2, 2], floats: $0.baseAddress!)],
                                      metadata: ["format": "lmtrain-gpt", "config": "{\"a\":2,\"b\":[2,3]}", "step": "3"])
        }
        try other.write(to: URL(fileURLWithPath: run + "/s2.safetensors"))
        #expect { try CheckpointAverage.average(paths: [paths[0], run + "/s2.safetensors"], to: run + "/avg2.safetensors") } throws: {
            "\($0)".contains("different model")
        }
    }

    @Test func snapshotsOfDifferentModelsAreRefused() throws {
        let a = tempRun(), b = tempRun()
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        let train = syntheticStream(vocab: 50, length: 1000, seed: 5)
        var o = TrainOptions()
        o.steps = 1; o.batchSize = 2; o.threads = 1; o.evalTokens = 64; o.keepCheckpoints = 1
        for (run, d) in [(a, 32), (b, 16)] {
            let c = GPTConfig(vocabSize: 50, context: 16, dModel: d, layers: 1, heads: 2, dropout: 0)
            let t = try Trainer(model: GPT(config: c, pool: ThreadPool(threads: 1)), options: o, run: run,
                                train: train, valid: Array(train.prefix(100)), eos: 3, prior: nil, resume: false)
            _ = try t.run(shouldStop: { false }) { _ in }
        }
        let paths = [try Checkpoint.snapshots(run: a)[0].path, try Checkpoint.snapshots(run: b)[0].path]
        #expect { try CheckpointAverage.average(paths: paths, to: a + "/avg.safetensors") } throws: {
            "\($0)".contains("different model")
        }
        #expect(!FileManager.default.fileExists(atPath: a + "/avg.safetensors"))
    }
}
