import Foundation
import Datasets
import Evaluation
import Kernels
import Model
import Runs
import Tokenizer

/// Translation: length-bucketed batches under a token budget, visited in a seeded order per epoch. The
/// cursor is (epoch << 32) | position within the epoch's order, so a resumed run continues with the same batch.
/// With BPE-dropout each epoch has its own segmentation of the training text, and so its own batches.
public final class TranslationTask: TrainingTask {
    public let model: Seq2Seq
    public var trainable: TrainableModel { model }
    let train: ParallelData, valid: ParallelData
    /// The batches of the deterministic segmentation (every epoch's, without BPE-dropout).
    public let buckets: LengthBuckets
    let pad: Int32, eos: Int32
    let seed: UInt64
    let maxTokens: Int
    /// Task metrics of each validation beyond the loss (e.g. "bleu" of greedy translations), computed by the
    /// caller from the model and the validation pairs: the training loop knows nothing of decoding.
    let validationMetrics: ValidationMetrics?
    /// BPE-dropout: the training pairs of an epoch, segmented afresh (a function of the epoch alone, so a
    /// resumed run sees the same pairs). nil: every epoch uses `train`.
    let resegment: ((Int) -> ParallelData)?
    var slots: [PaddedPairs]
    /// The current epoch's pairs, their batches and the order the epoch visits them in.
    var current: (epoch: Int, data: ParallelData, buckets: LengthBuckets, order: [Int])? = nil

    public init(model: Seq2Seq, train: ParallelData, valid: ParallelData, tokenizer: BPETokenizer, maxTokens: Int,
                gradAccum: Int, seed: UInt64, validationMetrics: ValidationMetrics? = nil,
                resegment: ((Int) -> ParallelData)? = nil) throws {
        self.model = model
        self.train = train; self.valid = valid
        guard train.count > 0 else { throw RunError.invalidOption("no usable training pairs (all were empty or longer than the model's maximum length)") }
        guard valid.count > 0 else { throw RunError.invalidOption("no usable validation pairs (all were empty or longer than the model's maximum length)") }
        buckets = LengthBuckets(data: train, maxTokens: maxTokens)
        pad = tokenizer.id(of: .pad); eos = tokenizer.id(of: .eos)
        self.seed = seed
        self.maxTokens = maxTokens
        self.validationMetrics = validationMetrics
        self.resegment = resegment
        slots = Array(repeating: PaddedPairs(), count: gradAccum)
        // Size each slot's arrays for the largest batch now (fill only ever grows them).
        var most = (B: 0, src: 0, tgt: 0)
        for b in buckets.batches {
            var s = 0, t = 0
            for p in b { s = max(s, train.sources.length(Int(p))); t = max(t, train.targets.length(Int(p)) + 1) }
            most = (max(most.B, b.count), max(most.src, b.count * s), max(most.tgt, b.count * t))
        }
        for i in slots.indices { slots[i].reserve(sentences: most.B, sourceTokens: most.src, targetTokens: most.tgt) }
        reserveActivations(buckets, train)
    }

    /// Allocates the activations for the largest batch shapes now, so no training step allocates (with
    /// BPE-dropout, an epoch whose batches are larger grows them once, at its start).
    func reserveActivations(_ buckets: LengthBuckets, _ data: ParallelData) {
        model.reserve(shapes: buckets.batches.map { b in
            (b.count, b.map { data.sources.length(Int($0)) }.max()!, b.map { data.targets.length(Int($0)) + 1 }.max()!)
        })
    }

    public func initialCursor(seed: UInt64) -> UInt64 { 0 }

    /// The epoch of the cursor plus the share of its batches done.
    public func epochs(cursor: UInt64, tokens: Int) -> Double {
        let epoch = Int(cursor >> 32), position = Int(cursor & 0xFFFF_FFFF)
        let batches = current?.epoch == epoch ? current!.buckets.batches.count : buckets.batches.count
        return Double(epoch) + Double(position) / Double(max(1, batches))
    }

    public func prepare(slot: Int, cursor: inout UInt64) -> (targets: Int, tokens: Int) {
        let epoch = Int(cursor >> 32), position = Int(cursor & 0xFFFF_FFFF)
        if current?.epoch != epoch { begin(epoch: epoch) }
        let e = current!
        let batch = e.buckets.batches[e.order[position]]
        slots[slot].fill(batch, from: e.data, pad: pad, eos: eos)
        cursor = position + 1 >= e.buckets.batches.count ? UInt64(epoch + 1) << 32 : (UInt64(epoch) << 32) | UInt64(position + 1)
        let s = slots[slot]
        return (s.targetCount, s.targetCount + Int(s.srcLengths.prefix(s.B).reduce(0, +)))
    }

    func begin(epoch: Int) {
        guard let resegment else {
            current = (epoch, train, buckets, buckets.order(epoch: epoch, seed: seed))
            return
        }
        current = nil   // the previous epoch's pairs go before the next one's are made
        let data = resegment(epoch)
        let b = data.count > 0 ? LengthBuckets(data: data, maxTokens: maxTokens) : buckets
        let d = data.count > 0 ? data : train
        reserveActivations(b, d)
        current = (epoch, d, b, b.order(epoch: epoch, seed: seed))
    }

    public func train(slot: Int, loss: LossOptions, gradScale: Float, dropoutSeed: UInt64) -> CrossEntropyStats {
        let s = slots[slot]
        return model.trainStep(src: s.src, srcLengths: s.srcLengths, tgtIn: s.tgtIn, targets: s.targets, B: s.B, Ts: s.Ts,
                               Tt: s.Tt, loss: loss, gradScale: gradScale, dropoutSeed: dropoutSeed)
    }

    /// Teacher-forced loss over the whole validation set, and the caller's metrics of the model on it.
    public func validate(loss: LossOptions, maxTokens: Int) -> (CrossEntropyStats, [String: Double]) {
        let stats = TranslationEvaluator.teacherForced(model: model, data: valid, pad: pad, eos: eos, loss: loss)
        return (stats, validationMetrics?(model, valid) ?? [:])
    }
}

/// Metrics of a translation model on validation pairs, by name (e.g. ["bleu": 21.3]).
public typealias ValidationMetrics = (Seq2Seq, ParallelData) -> [String: Double]
