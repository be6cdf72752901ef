import Datasets
import Kernels
import Model

/// Teacher-forced evaluation of a translation model over pairs (padding ignored), in length-sorted batches.
public enum TranslationEvaluator {
    public static func teacherForced(model: Seq2Seq, data: ParallelData, pad: Int32, eos: Int32, loss: LossOptions,
                                     maxTokens: Int = 4096,
                                     inspect: LogitsInspector? = nil) -> CrossEntropyStats {
        let buckets = LengthBuckets(data: data, maxTokens: maxTokens)
        var total = CrossEntropyStats()
        var batch = PaddedPairs()
        for b in buckets.batches {
            batch.fill(b, from: data, pad: pad, eos: eos)
            let st = model.evaluate(src: batch.src, srcLengths: batch.srcLengths, tgtIn: batch.tgtIn, targets: batch.targets,
                                    B: batch.B, Ts: batch.Ts, Tt: batch.Tt, loss: loss, inspect: inspect)
            total += st
        }
        return total
    }
}
