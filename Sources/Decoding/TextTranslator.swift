import Kernels
import Model
import Runs
import Tokenizer

/// Text in, text out: a translation model with its tokenizer, for `lmtrain translate` and for other Swift
/// code. Each line is encoded (cut to the model's maximum source length), translated in batches with beam
/// search, and decoded; an empty or blank line gives no hypotheses (nil), so outputs stay aligned with inputs.
public final class TextTranslator {
    public let tokenizer: BPETokenizer
    public let translator: Translator
    /// Search options (beam size from the translator); special tokens are banned from outputs.
    public var options: BeamOptions
    /// Maximum output length a·source tokens + b.
    public var maxLenA = 1.5, maxLenB = 10.0
    /// Lines cut to the model's maximum source length so far.
    public private(set) var truncated = 0

    public init(model: Seq2Seq, tokenizer: BPETokenizer, beam: Int = 4, batchSize: Int = 32, computeType: ComputeType = .fp32) {
        self.tokenizer = tokenizer
        translator = Translator(model: model, batchSize: batchSize, beam: beam, computeType: computeType)
        options = BeamOptions(eos: tokenizer.id(of: .eos))
        options.beam = beam
        options.banned = [tokenizer.id(of: .pad), tokenizer.id(of: .bos), tokenizer.id(of: .unk)]
    }

    /// The translation model of the run in `directory` (trained by `lmtrain fit`), with its tokenizer;
    /// `checkpoint` is a weights file to use instead of RUN/model.safetensors.
    public convenience init(run directory: String, checkpoint: String? = nil, beam: Int = 4, batchSize: Int = 32,
                            threads: Int = 1, computeType: ComputeType = .fp32) throws {
        let r = try LoadedRun<Seq2Seq>(directory: directory, threads: threads, checkpoint: checkpoint)
        self.init(model: r.model, tokenizer: r.tokenizer, beam: beam, batchSize: batchSize, computeType: computeType)
    }

    /// The n-best hypotheses of each line (nil for a blank line), best first.
    public func hypotheses(_ lines: [String]) throws -> [[Hypothesis]?] {
        let maxSource = translator.model.config.maxLength, eos = tokenizer.id(of: .eos)
        var sources: [[Int32]] = [], positions: [Int] = []
        for (i, line) in lines.enumerated() where !line.allSatisfy(\.isWhitespace) {
            var ids = try tokenizer.encode(line)
            if ids.count + 1 > maxSource { ids = Array(ids.prefix(maxSource - 1)); truncated += 1 }
            sources.append(ids + [eos])
            positions.append(i)
        }
        let results = sources.isEmpty ? [] : translator.translate(sources: sources, options: options, maxLenA: maxLenA, maxLenB: maxLenB)
        var out = [[Hypothesis]?](repeating: nil, count: lines.count)
        for (k, i) in positions.enumerated() { out[i] = results[k] }
        return out
    }

    /// The best translation of each line ("" for a blank line).
    public func translate(_ lines: [String]) throws -> [String] {
        try hypotheses(lines).map { try $0.map { try tokenizer.decode($0[0].tokens) } ?? "" }
    }
}
