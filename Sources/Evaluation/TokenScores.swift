import Datasets
import Foundation
import Kernels
import Model

/// What a model thought of each target token of a pair under teacher forcing: the token, its probability,
/// the top-1 probability and whether the top-1 token is the target. The raw material of calibration with
/// confidence intervals (resampling sentences) and of inference calibration (scoring the model's own outputs
/// as targets, Wang et al. 2020).
public struct TokenScores: Sendable, Equatable {
    public var ids: [Int32] = []
    public var probability: [Float] = []
    public var confidence: [Float] = []
    public var correct: [Bool] = []
}

extension TranslationEvaluator {
    /// Per-token scores of every pair of `data` (in its order; targets end in EOS), at temperature 1.
    public static func tokenScores(model: Seq2Seq, data: ParallelData, pad: Int32, eos: Int32, maxTokens: Int = 4096) -> [TokenScores] {
        var out = [TokenScores](repeating: TokenScores(), count: data.count)
        let buckets = LengthBuckets(data: data, maxTokens: maxTokens)
        var batch = PaddedPairs()
        var nll: [Float] = [], conf: [Float] = [], correct: [Float] = [], entropy: [Float] = []
        let one: [Float] = [1]
        for b in buckets.batches {
            batch.fill(b, from: data, pad: pad, eos: eos)
            let Tt = batch.Tt
            // The head shows the batch's B·Tt rows in order, in blocks.
            var row = 0
            let inspect: LogitsInspector = { logits, targets, rows in
                if nll.count < rows { nll = [Float](repeating: 0, count: rows); conf = nll; correct = nll; entropy = nll }
                calibrationRows(logits: logits, targets: targets, rows: rows, vocab: model.config.vocabSize, temperatures: one, count: 1,
                                nll: &nll, confidence: &conf, correct: &correct, entropy: &entropy, pool: model.pool)
                for r in 0..<rows {
                    let g = row + r, pair = Int(b[b.startIndex + g / Tt])   // b is a slice: its indices start where it does
                    if correct[r].isNaN { continue }   // padding
                    out[pair].ids.append(targets[r])
                    out[pair].probability.append(Foundation.exp(-nll[r]))
                    out[pair].confidence.append(conf[r])
                    out[pair].correct.append(correct[r] == 1)
                }
                row += rows
            }
            _ = model.evaluate(src: batch.src, srcLengths: batch.srcLengths, tgtIn: batch.tgtIn, targets: batch.targets,
                               B: batch.B, Ts: batch.Ts, Tt: batch.Tt, loss: LossOptions(smoothing: 0), inspect: inspect)
        }
        return out
    }
}

extension StreamEvaluator {
    /// Per-token scores of a token stream, one entry per window of `evaluate` (the stream after an `<eos>`, cut
    /// into windows of T predicted tokens, the last one shorter): the unit a bootstrap resamples for a language
    /// model, whose test file is one stream rather than sentences. At temperature 1.
    public static func tokenScores(model: GPT, ids: [Int32], eos: Int32, B: Int, T: Int) -> [TokenScores] {
        var out = [TokenScores](repeating: TokenScores(), count: (ids.count + T - 1) / T)
        var nll: [Float] = [], conf: [Float] = [], correct: [Float] = [], entropy: [Float] = []
        let one: [Float] = [1]
        // Every batch shows its B·T rows in order, padded windows included (their targets are ignored, and
        // their rows come out NaN), so row / T counts windows across batches.
        var row = 0
        let inspect: LogitsInspector = { logits, targets, rows in
            if nll.count < rows { nll = [Float](repeating: 0, count: rows); conf = nll; correct = nll; entropy = nll }
            calibrationRows(logits: logits, targets: targets, rows: rows, vocab: model.config.vocabSize, temperatures: one, count: 1,
                            nll: &nll, confidence: &conf, correct: &correct, entropy: &entropy, pool: model.pool)
            for r in 0..<rows where !correct[r].isNaN {
                let w = (row + r) / T
                out[w].ids.append(targets[r])
                out[w].probability.append(Foundation.exp(-nll[r]))
                out[w].confidence.append(conf[r])
                out[w].correct.append(correct[r] == 1)
            }
            row += rows
        }
        _ = evaluate(model: model, ids: ids, eos: eos, B: B, T: T, inspect: inspect)
        return out
    }
}
