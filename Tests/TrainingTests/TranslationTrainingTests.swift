import Foundation
import Kernels
import Model
import Testing
import Tokenizer
import Datasets
import Decoding
import Runs
import Training
import Evaluation
import TestSupport

/// A toy language pair: source words from one made-up lexicon, the target the word-by-word translation in
/// reverse order, so the model must learn a dictionary, reordering and where to stop.
func toyPairs(count: Int, seed: UInt64) -> ParallelText {
    let src = ["ka", "lu", "mo", "ti", "re", "sa", "no", "pi", "ve", "du", "go", "ha"]
    let tgt = ["uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce"]
    var rng = GaussianRNG(seed: seed)
    var t = ParallelText()
    for _ in 0..<count {
        let n = 2 + Int(rng.uniform() * 5)
        let words = (0..<n).map { _ in Int(rng.uniform() * Double(src.count)) }
        t.sources.append(words.map { src[$0] }.joined(separator: " "))
        t.targets.append(words.reversed().map { tgt[$0] }.joined(separator: " "))
    }
    return t
}

@Suite struct TranslationTrainingTests {
    let config = Seq2SeqConfig(vocabSize: 0, maxLength: 32, dModel: 64, encoderLayers: 2, decoderLayers: 2, heads: 4, dropout: 0)

    func setup(pairs: Int = 300) throws -> (BPETokenizer, ParallelData, ParallelData, Seq2SeqConfig) {
        let text = toyPairs(count: pairs, seed: 5)
        let tok = try BPETrainer.train(lines: text.sources + text.targets, options: BPETrainingOptions(vocabularySize: 300))
        let data = try ParallelData.encode(text, tokenizer: tok, maxLength: 32, threads: 2)
        let validText = toyPairs(count: 40, seed: 99)
        let valid = try ParallelData.encode(validText, tokenizer: tok, maxLength: 32, threads: 2)
        var c = config
        c.vocabSize = tok.vocabularySize
        return (tok, data, valid, c)
    }

    func options(steps: Int) -> TrainOptions {
        var o = TrainOptions()
        o.steps = steps; o.lr = 3e-3; o.warmup = 20; o.smoothing = 0; o.weightDecay = 0
        o.evalEvery = steps; o.checkpointEvery = 1000; o.logEvery = 10; o.threads = 2; o.beta2 = 0.98
        return o
    }

    /// With ε = 0 the model learns the toy language pair: low validation NLL on unseen sentences, and greedy
    /// translations (the batched search) whose BLEU is near perfect.
    @Test func learnsAToyLanguagePair() throws {
        let (tok, data, valid, cfg) = try setup(pairs: 2000)
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let model = Seq2Seq(config: cfg, pool: ThreadPool(threads: 2))
        let task = try TranslationTask(model: model, train: data, valid: valid, tokenizer: tok, maxTokens: 400, gradAccum: 1,
                                       seed: 1, validationMetrics: try greedyValidationBLEU(tokenizer: tok, sentences: 40))
        // Reordering by position takes a while to emerge (NLL plateaus near 0.9 for a few hundred steps).
        var o = options(steps: 1500)
        o.lr = 2e-3
        o.warmup = 100
        let t = try Trainer(task: task, options: o, run: run, prior: nil, resume: false)
        var last: ValidationReport? = nil
        _ = try t.run(shouldStop: { false }) { e in if case .validation(let v) = e { last = v } }
        let v = try #require(last)
        #expect(v.nll < 0.1, "validation NLL \(v.nll)")
        #expect((v.extra["bleu"] ?? 0) > 90, "greedy BLEU \(v.extra["bleu"] ?? -1)")
    }

    /// 10 steps + resume + 10 steps equals 20 steps bit for bit (the epoch/position cursor, dropout seeds and
    /// optimizer come back from the checkpoint).
    @Test func resumeIsBitwiseEquivalent() throws {
        var (tok, data, valid, cfg) = try setup(pairs: 200)
        cfg.dropout = 0.1
        let straight = tempRun(), split = tempRun()
        defer { try? FileManager.default.removeItem(atPath: straight); try? FileManager.default.removeItem(atPath: split) }
        func trainer(_ run: String, resume: Bool) throws -> Trainer {
            let task = try TranslationTask(model: Seq2Seq(config: cfg, pool: ThreadPool(threads: 2)), train: data, valid: valid,
                                           tokenizer: tok, maxTokens: 200, gradAccum: 2, seed: 3)
            var o = options(steps: 20)
            o.gradAccum = 2
            o.logEvery = 1
            return try Trainer(task: task, options: o, run: run, prior: nil, resume: resume)
        }
        let a = try trainer(straight, resume: false)
        _ = try a.run(shouldStop: { false }) { _ in }
        var steps = 0
        let b = try trainer(split, resume: false)
        _ = try b.run(shouldStop: { steps >= 10 }) { e in if case .step = e { steps += 1 } }
        #expect(b.state.step == 10)
        let c = try trainer(split, resume: true)
        _ = try c.run(shouldStop: { false }) { _ in }
        #expect(c.state.step == 20 && c.state.batcherState == a.state.batcherState)
        let pa = Array(UnsafeBufferPointer(start: a.model.params.base, count: a.model.layout.count))
        let pc = Array(UnsafeBufferPointer(start: c.model.params.base, count: c.model.layout.count))
        #expect(pa == pc, "weights after 20 steps differ from 10 + resume + 10")
    }

    /// BPE-dropout: each epoch gets its own segmentation (the target side of epoch 0 differs from epoch 1's and
    /// from the deterministic one), and a run over several epochs resumes bit for bit, re-segmenting the epoch
    /// it stopped in exactly as before.
    @Test func bpeDropoutResegmentsEachEpochAndResumesBitwise() throws {
        let text = toyPairs(count: 120, seed: 5)
        let tok = try BPETrainer.train(lines: text.sources + text.targets, options: BPETrainingOptions(vocabularySize: 300))
        let data = try ParallelData.encode(text, tokenizer: tok, maxLength: 32, threads: 2)
        let valid = try ParallelData.encode(toyPairs(count: 20, seed: 99), tokenizer: tok, maxLength: 32, threads: 2)
        var cfg = config
        cfg.vocabSize = tok.vocabularySize
        let resegment: (Int) -> ParallelData = { epoch in
            try! ParallelData.encode(text, tokenizer: tok, maxLength: 32, threads: 2, dropout: 0.2, seed: UInt64(epoch) &+ 11)
        }
        let e0 = resegment(0), e1 = resegment(1)
        #expect(e0.targets != data.targets && e0.targets != e1.targets && resegment(1).targets == e1.targets)
        #expect(e0.targetTokens > data.targetTokens)
        let one = try ParallelData.encode(text, tokenizer: tok, maxLength: 32, threads: 1, dropout: 0.2, seed: 11)
        #expect(one.targets == e0.targets && one.sources == e0.sources, "the segmentation depends on the thread count")

        let straight = tempRun(), split = tempRun()
        defer { try? FileManager.default.removeItem(atPath: straight); try? FileManager.default.removeItem(atPath: split) }
        func trainer(_ run: String, resume: Bool) throws -> Trainer {
            let task = try TranslationTask(model: Seq2Seq(config: cfg, pool: ThreadPool(threads: 2)), train: data, valid: valid,
                                           tokenizer: tok, maxTokens: 200, gradAccum: 1, seed: 3, resegment: resegment)
            var o = options(steps: 40)
            o.logEvery = 1
            return try Trainer(task: task, options: o, run: run, prior: nil, resume: resume)
        }
        let a = try trainer(straight, resume: false)
        _ = try a.run(shouldStop: { false }) { _ in }
        // 120 pairs in batches of ≤ 200 padded tokens: several epochs in 40 steps.
        #expect(a.state.batcherState >> 32 >= 2, "40 steps stayed within epoch \(a.state.batcherState >> 32)")
        var steps = 0
        let b = try trainer(split, resume: false)
        _ = try b.run(shouldStop: { steps >= 23 }) { e in if case .step = e { steps += 1 } }
        let c = try trainer(split, resume: true)
        _ = try c.run(shouldStop: { false }) { _ in }
        #expect(c.state.step == 40 && c.state.batcherState == a.state.batcherState)
        let pa = Array(UnsafeBufferPointer(start: a.model.params.base, count: a.model.layout.count))
        let pc = Array(UnsafeBufferPointer(start: c.model.params.base, count: c.model.layout.count))
        #expect(pa == pc, "weights after 40 steps differ from 23 + resume + 17")
    }

    /// Per-token scores (`eval --tokens`) add up to the teacher-forced statistics of the same pairs: one entry per
    /// target token and EOS, Σ −log p = the NLL, Σ confidence and the correct count as the fused kernel's; and each
    /// pair's ids are its target then EOS, in the data's order.
    @Test func tokenScoresAddUpToTheTeacherForcedStatistics() throws {
        let (tok, data, valid, cfg) = try setup(pairs: 200)
        let model = Seq2Seq(config: cfg, pool: ThreadPool(threads: 2))
        let task = try TranslationTask(model: model, train: data, valid: valid, tokenizer: tok, maxTokens: 200, gradAccum: 1, seed: 1)
        let run = tempRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        _ = try Trainer(task: task, options: options(steps: 30), run: run, prior: nil, resume: false).run(shouldStop: { false }) { _ in }
        let pad = tok.id(of: .pad), eos = tok.id(of: .eos)
        let st = TranslationEvaluator.teacherForced(model: model, data: valid, pad: pad, eos: eos, loss: LossOptions(smoothing: 0))
        let scores = TranslationEvaluator.tokenScores(model: model, data: valid, pad: pad, eos: eos, maxTokens: 300)
        #expect(scores.count == valid.count)
        for (i, s) in scores.enumerated() { #expect(s.ids == valid.targets.array(i) + [eos]) }
        let nll = scores.reduce(0.0) { $0 + $1.probability.reduce(0.0) { $0 - Foundation.log(Double($1)) } }
        let conf = scores.reduce(0.0) { $0 + $1.confidence.reduce(0.0) { $0 + Double($1) } }
        let correct = scores.reduce(0) { $0 + $1.correct.filter { $0 }.count }
        #expect(scores.reduce(0) { $0 + $1.ids.count } == st.count)
        #expect(abs(nll - st.nll) < 1e-4 * st.nll, "Σ −log p \(nll) vs NLL \(st.nll)")
        #expect(abs(conf - st.confidence) < 1e-4 * st.confidence, "Σ confidence \(conf) vs \(st.confidence)")
        #expect(correct == st.correct)
        #expect(scores.allSatisfy { s in zip(s.probability, s.confidence).allSatisfy { $0 <= $1 * (1 + 1e-5) } }, "a target's probability above the top-1")
    }

    /// Batches respect the token budget, cover every pair once per epoch, and padding is ignored by the loss.
    @Test func bucketsCoverEveryPairWithinTheBudget() throws {
        let (tok, data, _, _) = try setup(pairs: 300)
        let buckets = LengthBuckets(data: data, maxTokens: 150)
        #expect(buckets.batches.flatMap { $0 }.map(Int.init).sorted() == Array(0..<data.count))
        var padded = PaddedPairs()
        for b in buckets.batches {
            padded.fill(b, from: data, pad: tok.id(of: .pad), eos: tok.id(of: .eos))
            #expect(b.count == 1 || padded.B * max(padded.Ts, padded.Tt) <= 150)
            #expect(padded.targetCount == b.reduce(0) { $0 + data.targets.length(Int($1)) + 1 })
            #expect(padded.targets.prefix(padded.B * padded.Tt).filter { $0 != -100 }.count == padded.targetCount)
        }
        #expect(Set(buckets.order(epoch: 0, seed: 1)) == Set(0..<buckets.batches.count))
        #expect(buckets.order(epoch: 0, seed: 1) != buckets.order(epoch: 1, seed: 1))
    }
}

@Suite struct TemperatureScalingTests {
    /// Labels drawn from softmax(z/2): the logits are twice too sharp, so the fitted temperature is ≈ 2, and
    /// scaling lowers both NLL and ECE.
    @Test func fitsTheTemperatureThatGeneratedTheLabels() throws {
        let V = 20, rows = 6000, T0: Float = 2
        var rng = GaussianRNG(seed: testSeed())
        var logits = [Float](repeating: 0, count: rows * V), targets = [Int32](repeating: 0, count: rows)
        for r in 0..<rows {
            for v in 0..<V { logits[r * V + v] = 3 * rng.next() }
            // Sample the label from softmax(z / T0).
            let p = (0..<V).map { exp(Double(logits[r * V + $0] / T0)) }
            var u = rng.uniform() * p.reduce(0, +)
            var y = 0
            while y < V - 1 && u > p[y] { u -= p[y]; y += 1 }
            targets[r] = Int32(y)
        }
        let pass: EvaluationPass = { inspect in
            // Blocks of 256 rows, as the model's head hands them out.
            for r0 in stride(from: 0, to: rows, by: 256) {
                let n = min(256, rows - r0)
                logits.withUnsafeBufferPointer { l in targets.withUnsafeBufferPointer { t in inspect(l.baseAddress! + r0 * V, t.baseAddress! + r0, n) } }
            }
        }
        let pool = ThreadPool(threads: 2)
        let T = CalibrationEvaluator.fitTemperature(pass, vocab: V, pool: pool)
        #expect(abs(T - T0) < 0.15, "fitted T \(T)")
        let rep = CalibrationEvaluator.report(pass, name: "synthetic", temperature: T, vocab: V, pool: pool)
        #expect(rep.tokens == rows)
        #expect(rep.nllScaled < rep.nll && rep.eceScaled < rep.ece / 2, "NLL \(rep.nll) → \(rep.nllScaled), ECE \(rep.ece) → \(rep.eceScaled)")
        #expect(rep.meanConfidence > rep.accuracy, "the over-sharp logits are over-confident")
    }
}

@Suite struct TokenCacheTests {
    /// The id cache follows the corpus's content: a corpus rewritten with the same size and modification time
    /// (a script regenerating it within a second) is encoded again, not served from the stale cache.
    @Test func aRewrittenCorpusIsNotServedStaleIds() throws {
        let dir = tempRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = try BPETrainer.train(lines: ["the cat sat on the mat", "a dog ran"], options: BPETrainingOptions(vocabularySize: 300))
        let corpus = dir + "/corpus.txt", cache = dir + "/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try "the cat sat\n".write(toFile: corpus, atomically: false, encoding: .utf8)
        let date = try #require(try FileManager.default.attributesOfItem(atPath: corpus)[.modificationDate] as? Date)
        let first = try TokenStream.load(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 1, cacheDir: cache)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).count == 1)
        try "a dog ran!\n\n".write(toFile: corpus, atomically: false, encoding: .utf8)   // same byte count
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: corpus)
        let second = try TokenStream.load(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 1, cacheDir: cache)
        let fresh = try TokenStream.encode(lines: try Documents.lines(of: corpus), tokenizer: tok, threads: 1)
        #expect(first.ids != fresh.ids && second.ids == fresh.ids)
        // Unchanged content is served from the cache (a second entry now, the first still there).
        #expect(try TokenStream.load(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 1, cacheDir: cache).ids == fresh.ids)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).count == 2)
    }

    /// The streamed cache file holds what encoding the whole file in memory gives, whatever the block
    /// size (blocks of 1 byte to more than the file, cutting lines, CRLF and a last line without a newline), with
    /// the same counts; a damaged cache is rebuilt, not read; no temporary file is left behind.
    @Test func theCacheFileEqualsEncodingInMemory() throws {
        let dir = tempRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = try BPETrainer.train(lines: ["the cat sat on the mat", "a dog ran", "él comió"], options: BPETrainingOptions(vocabularySize: 300))
        let corpus = dir + "/corpus.txt"
        try "the cat sat\r\n\na dog ran on the mat\nél comió  dos\tveces\nlast line".write(toFile: corpus, atomically: false, encoding: .utf8)
        let fresh = try TokenStream.encode(lines: try Documents.lines(of: corpus), tokenizer: tok, threads: 1)
        for (i, block) in [1, 7, 33, 257, 1 << 20].enumerated() {
            let cache = dir + "/cache\(i)"
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            var calls = 0
            let m = try TokenStream.cached(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 2, cacheDir: cache, blockBytes: block) { _, _ in calls += 1 }
            #expect(m.ids.array == fresh.ids, "block \(block)")
            #expect(m.words == fresh.words && m.bytes == fresh.bytes && m.lines == fresh.lines, "block \(block)")
            // Training windows read from the cache file are those drawn from the ids in memory.
            var fromFile = WindowBatcher(seed: 9), fromMemory = WindowBatcher(seed: 9)
            let T = 5
            var a = [Int32](repeating: -1, count: 7 * T), b = a, c = a, d = a
            fromFile.fill(inputs: &a, targets: &b, B: 7, T: T, from: m.ids)
            fromMemory.fill(inputs: &c, targets: &d, B: 7, T: T, from: TokenIDs(fresh.ids))
            #expect(a == c && b == d && !a.contains(-1))
            #expect(calls > 0)
            let names = try FileManager.default.contentsOfDirectory(atPath: cache)
            #expect(names.count == 1 && names[0].hasSuffix(".ids"), "\(names)")
            // Truncate the cache: the next load rebuilds it (the progress callback runs again) and is right.
            let path = cache + "/" + names[0]
            #expect(truncate(path, 50) == 0)
            calls = 0
            let again = try TokenStream.cached(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 1, cacheDir: cache, blockBytes: block) { _, _ in calls += 1 }
            #expect(calls > 0 && again.ids.array == fresh.ids)
            // And an intact cache is served as it is.
            calls = 0
            _ = try TokenStream.cached(file: corpus, tokenizer: tok, tokenizerKey: "k", threads: 1, cacheDir: cache) { _, _ in calls += 1 }
            #expect(calls == 0)
        }
    }
}
