import Foundation
import Kernels
import Model
import Testing
import TestSupport

/// A right-padded batch of two pairs with different source and target lengths (pad id 0, ignored targets).
private struct PaddedBatch {
    let B = 2, Ts = 5, Tt = 4
    var src: [Int32], srcLengths: [Int32], tgtIn: [Int32], targets: [Int32]
    init(vocab: Int, rng: inout GaussianRNG) {
        func tok() -> Int32 { Int32(1 + rng.uniform() * Double(vocab - 1)) }
        // Pair 0: 5 source tokens, 4 targets; pair 1: 3 source tokens, 2 targets, then padding.
        src = [tok(), tok(), tok(), tok(), tok(), tok(), tok(), tok(), 0, 0]
        srcLengths = [5, 3]
        tgtIn = [tok(), tok(), tok(), tok(), tok(), tok(), 0, 0]
        targets = [tok(), tok(), tok(), tok(), tok(), tok(), -100, -100]
    }
}

@Suite struct Seq2SeqTests {
    /// Every tensor of the encoder–decoder, checked against central differences of the loss, with dropout on
    /// (fixed masks) and a padded batch, so masking and the cross-attention's gradient into the encoder are
    /// covered.
    @Test func gradientsMatchCentralDifferences() throws {
        let cfg = Seq2SeqConfig(vocabSize: 19, maxLength: 8, dModel: 8, encoderLayers: 2, decoderLayers: 2, heads: 2, dropout: 0.1)
        let model = Seq2Seq(config: cfg, pool: ThreadPool(threads: 2))
        let seed = testSeed()
        model.initialize(seed: seed)
        // Larger weights than the init (see the GPT check): a usable float32 central difference needs them.
        for t in model.layout.tensors where t.decays && t.name != "shared.weight" {
            for i in t.offset..<(t.offset + t.count) { model.params.base[i] *= 25 }
        }
        var rng = GaussianRNG(seed: seed ^ 7)
        let b = PaddedBatch(vocab: cfg.vocabSize, rng: &rng)
        let opts = LossOptions(smoothing: 0.2)
        let counted: Float = 6
        func step(_ scale: Float) -> CrossEntropyStats {
            model.trainStep(src: b.src, srcLengths: b.srcLengths, tgtIn: b.tgtIn, targets: b.targets, B: b.B, Ts: b.Ts, Tt: b.Tt,
                            loss: opts, gradScale: scale, dropoutSeed: 42)
        }
        model.grads.zero()
        let first = step(1 / counted)
        #expect(first.count == 6)
        func loss() -> Double {
            let saved = Array(UnsafeBufferPointer(start: model.grads.base, count: model.layout.count))
            let st = step(1)
            model.grads.base.update(from: saved, count: saved.count)
            return st.loss / Double(counted)
        }
        var checked = 0
        for t in model.layout.tensors {
            for _ in 0..<3 {
                let i = t.offset + Int(rng.uniform() * Double(t.count))
                let analytic = Double(model.grads.base[i])
                let x0 = model.params.base[i]
                let h: Float = 2e-3 * max(1, abs(x0))
                model.params.base[i] = x0 + h
                let lp = loss()
                model.params.base[i] = x0 - h
                let lm = loss()
                model.params.base[i] = x0
                let fd = (lp - lm) / Double(2 * h)
                #expect(abs(fd - analytic) <= 2e-3 + 3e-2 * abs(fd), "seed \(seed) \(t.name)[\(i - t.offset)]: fd \(fd) vs \(analytic)")
                checked += 1
            }
        }
        #expect(checked == model.layout.tensors.count * 3)
    }

    /// Padding changes nothing: pair 1 alone (unpadded) gives the same loss as inside the padded batch, and
    /// its pad positions' embeddings get no gradient.
    @Test func paddingIsInvisible() throws {
        let cfg = Seq2SeqConfig(vocabSize: 19, maxLength: 8, dModel: 16, encoderLayers: 2, decoderLayers: 2, heads: 2)
        let model = Seq2Seq(config: cfg, pool: ThreadPool(threads: 2))
        model.initialize(seed: testSeed())
        var rng = GaussianRNG(seed: testSeed())
        let b = PaddedBatch(vocab: cfg.vocabSize, rng: &rng)
        var rows = [Float](repeating: .nan, count: 8)
        let both = model.evaluate(src: b.src, srcLengths: b.srcLengths, tgtIn: b.tgtIn, targets: b.targets, B: 2, Ts: 5, Tt: 4,
                                  rowConfidence: &rows)
        let alone = model.evaluate(src: Array(b.src[5..<8]), srcLengths: [3], tgtIn: Array(b.tgtIn[4..<6]),
                                   targets: Array(b.targets[4..<6]), B: 1, Ts: 3, Tt: 2)
        let first = model.evaluate(src: Array(b.src[0..<5]), srcLengths: [5], tgtIn: Array(b.tgtIn[0..<4]),
                                   targets: Array(b.targets[0..<4]), B: 1, Ts: 5, Tt: 4)
        #expect(abs(both.loss - (alone.loss + first.loss)) < 1e-4 * abs(both.loss))
        #expect(both.count == alone.count + first.count)
        // Gradients: the padded batch's equal the two pairs' gradients summed (no gradient leaks through padding).
        let opts = LossOptions(smoothing: 0.1)
        model.grads.zero()
        _ = model.trainStep(src: b.src, srcLengths: b.srcLengths, tgtIn: b.tgtIn, targets: b.targets, B: 2, Ts: 5, Tt: 4,
                            loss: opts, gradScale: 1, dropoutSeed: 1)
        let batched = Array(UnsafeBufferPointer(start: model.grads.base, count: model.layout.count))
        model.grads.zero()
        _ = model.trainStep(src: Array(b.src[0..<5]), srcLengths: [5], tgtIn: Array(b.tgtIn[0..<4]), targets: Array(b.targets[0..<4]),
                            B: 1, Ts: 5, Tt: 4, loss: opts, gradScale: 1, dropoutSeed: 1)
        _ = model.trainStep(src: Array(b.src[5..<8]), srcLengths: [3], tgtIn: Array(b.tgtIn[4..<6]), targets: Array(b.targets[4..<6]),
                            B: 1, Ts: 3, Tt: 2, loss: opts, gradScale: 1, dropoutSeed: 1)
        var worst: Float = 0, scale: Float = 0
        for i in 0..<model.layout.count {
            worst = max(worst, abs(batched[i] - model.grads.base[i])); scale = max(scale, abs(batched[i]))
        }
        #expect(scale > 0 && worst <= 1e-4 * scale, "max |Δgrad| \(worst) of \(scale)")
    }

    /// The incremental decoder (self-attention cache per row, cross-attention keys per sentence, rows reordered
    /// by origin) gives the teacher-forced logits of each prefix: with the weights as they are, packed for
    /// inference (FP32: the same logits bit for bit), or quantised to int8 (within 2 % of the logits' range).
    @Test(arguments: [ComputeType?.none, .fp32, .int8])
    func incrementalDecodingMatchesTeacherForcing(computeType: ComputeType?) throws {
        let cfg = Seq2SeqConfig(vocabSize: 29, maxLength: 16, dModel: 32, encoderLayers: 2, decoderLayers: 2, heads: 4)
        let model = Seq2Seq(config: cfg, pool: ThreadPool(threads: 2))
        model.initialize(seed: testSeed())
        var rng = GaussianRNG(seed: testSeed())
        func tok() -> Int32 { Int32(1 + rng.uniform() * 28) }
        let sources: [[Int32]] = [[tok(), tok(), tok(), tok(), 2], [tok(), tok(), 2]]
        // Three hypotheses: (sentence, prefix) — two of them translate sentence 0 with different prefixes.
        let hyps: [(sentence: Int, prefix: [Int32])] = [(1, [2, tok(), tok(), tok()]), (0, [2, tok(), tok(), tok()]),
                                                       (0, [2, tok(), tok(), tok()])]
        let V = cfg.vocabSize
        // Reference: each hypothesis alone, teacher forced.
        var reference: [[Float]] = []
        for h in hyps {
            let src = sources[h.sentence]
            var out = [Float](repeating: .nan, count: 4 * V)
            model.logits(src: src, srcLengths: [Int32(src.count)], tgtIn: h.prefix, B: 1, Ts: src.count, Tt: 4, into: &out)
            reference.append(out)
        }
        // Incremental: after each step the rows are permuted by origin (as a search re-ranking would), so
        // each row's cache must follow its hypothesis.
        let weights = Seq2SeqInferenceWeights(model: model, computeType: computeType)
        let st = Seq2SeqDecoderState(config: cfg, rows: 3, sentences: 2, sourceLength: 5, steps: 8)
        model.beginDecoding(st, sources: sources, weights: weights)
        // The same steps without prepared weights, for the bitwise comparison of the packed FP32 path.
        let plain = Seq2SeqDecoderState(config: cfg, rows: 3, sentences: 2, sourceLength: 5, steps: 8)
        model.beginDecoding(plain, sources: sources)
        var logits = [Float](repeating: .nan, count: 3 * V), plainLogits = logits
        var identical = true, range: Float = 0
        var order = [0, 1, 2]          // row r holds hypothesis order[r]
        var origins: [Int]? = nil
        var worst: Float = 0
        let permutations = [[2, 0, 1], [1, 2, 0], [0, 2, 1]]
        for t in 0..<4 {
            model.decodeStep(st, sentences: order.map { hyps[$0].sentence }, origins: origins,
                             tokens: order.map { hyps[$0].prefix[t] }, logits: &logits, weights: weights)
            model.decodeStep(plain, sentences: order.map { hyps[$0].sentence }, origins: origins,
                             tokens: order.map { hyps[$0].prefix[t] }, logits: &plainLogits)
            identical = identical && logits == plainLogits
            for (r, h) in order.enumerated() {
                for v in 0..<V {
                    worst = max(worst, abs(logits[r * V + v] - reference[h][t * V + v]))
                    range = max(range, abs(reference[h][t * V + v]))
                }
            }
            if t < 3 {
                let perm = permutations[t]
                origins = perm
                order = perm.map { order[$0] }
            }
        }
        if computeType == .int8 {
            #expect(range > 0.1 && worst < 0.02 * range, "int8: max |Δlogit| = \(worst) of \(range)")
            #expect(!identical, "int8 products cannot give the FP32 logits exactly")
        } else {
            #expect(worst < 1e-4, "max |Δlogit| = \(worst)")
            #expect(identical, "prepared FP32 weights must give the unprepared logits bit for bit")
        }
    }

    /// The two position tables against their formulas in double precision, on awkward widths and rows: the
    /// interleaved one from position 0, fairseq's (Hugging Face M2M100's) in halves from row p + 1.
    @Test func positionTablesFollowTheirFormulas() {
        for d in [4, 6, 34] {
            let rows = 257
            let inter = PositionTable.interleaved.table(rows: rows, d: d), fair = PositionTable.fairseq.table(rows: rows, d: d)
            var worst = 0.0
            for p in [0, 1, 7, 33, 256] {
                for i in 0..<(d / 2) {
                    let w = pow(10000, -Double(2 * i) / Double(d))
                    worst = max(worst, abs(Double(inter[p * d + 2 * i]) - sin(Double(p) * w)), abs(Double(inter[p * d + 2 * i + 1]) - cos(Double(p) * w)))
                    let omega = exp(-Double(i) * log(10000) / Double(d / 2 - 1)), r = Double(p + 1)
                    worst = max(worst, abs(Double(fair[p * d + i]) - sin(r * omega)), abs(Double(fair[p * d + d / 2 + i]) - cos(r * omega)))
                }
            }
            // float32 arguments up to 257 are off by ≤ 257 · 2^-24 rad.
            #expect(worst < 3e-5, "d \(d): max error \(worst)")
            #expect(fair[0] == sinf(1) && fair[d / 2] == cosf(1), "the first token uses row 1")
        }
    }
}
