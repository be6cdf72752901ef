import Datasets
import Evaluation
import Model
import Tokenizer

/// BLEU of greedy translations of the first `sentences` validation pairs: the metric `fit` logs for a
/// translation run at each validation (handed to the training loop, which knows nothing of decoding).
public func greedyValidationBLEU(tokenizer: BPETokenizer, sentences: Int) throws -> (Seq2Seq, ParallelData) -> [String: Double] {
    let tok = try tokenizer.copy()
    let pad = tok.id(of: .pad), eos = tok.id(of: .eos)
    return { model, valid in
        let n = min(sentences, valid.count)
        guard n > 0 else { return [:] }
        var opts = BeamOptions(eos: eos)
        opts.beam = 1
        opts.banned = [pad]
        let outputs = Translator(model: model, batchSize: 64, beam: 1, computeType: nil).translate(sources: (0..<n).map { valid.sources.array($0) }, options: opts,
                                                                                 maxLenA: 1.5, maxLenB: 10)
        let hyps = outputs.map { (try? tok.decode($0[0].tokens)) ?? "" }
        return ["bleu": Metrics.bleu(hypotheses: hyps, references: Array(valid.targetText.prefix(n))).score]
    }
}
