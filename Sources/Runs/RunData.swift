import Datasets
import FileIO
import Tokenizer

/// A language-model run's text: two files, or one corpus whose last lines are held out.
public enum TextSplit {
    case files(train: String, valid: String)
    /// The corpus's first `trainLines` lines train, the rest (to `lines`) validate: counted, not read in.
    case heldOut(corpus: String, trainLines: Int, lines: Int)
}

extension Run {
    /// Language model: where its training and validation text come from.
    public func textSplit() throws -> TextSplit {
        let corpus = data.corpus!
        if let v = data.valid { return .files(train: corpus, valid: v) }
        let (t, n) = try Holdout.split(file: corpus, fraction: train.validFraction)
        return .heldOut(corpus: corpus, trainLines: t, lines: n)
    }

    /// Language model: the validation tokens the run was trained with.
    public func validationTokens(tokenizer: BPETokenizer, threads: Int) throws -> [Int32] {
        switch try textSplit() {
        case .files(_, let v): return try TokenStream.encode(lines: try Documents.lines(of: v), tokenizer: tokenizer, threads: threads).ids
        case .heldOut(let c, let t, let n):
            return try TokenStream.encode(lines: try Documents.lines(of: c, range: t..<n), tokenizer: tokenizer, threads: threads).ids
        }
    }

    /// Translation: training and validation pairs as text (the validation file(s) when given, else the corpus's
    /// last pairs). `skipped` hears of lines skipped for an empty side.
    public func pairSplit(skipped: (Int) -> Void = { _ in }) throws -> (train: ParallelText, valid: ParallelText) {
        let cols = data.columnPair
        let all: ParallelText = try data.corpus.map { try ParallelText.load(tsv: $0, columns: cols) }
            ?? ParallelText.load(source: data.sourceFile!, target: data.targetFile!)
        if all.skippedEmpty > 0 { skipped(all.skippedEmpty) }
        if let v = data.valid { return (all, try ParallelText.load(tsv: v, columns: cols)) }
        if let vs = data.validSource, let vt = data.validTarget { return (all, try ParallelText.load(source: vs, target: vt)) }
        let pairs = Array(zip(all.sources, all.targets))
        let (t, v) = try Holdout.split(pairs, fraction: train.validFraction, what: "the corpus")
        var trainText = ParallelText(), validText = ParallelText()
        trainText.sources = t.map(\.0); trainText.targets = t.map(\.1)
        validText.sources = v.map(\.0); validText.targets = v.map(\.1)
        return (trainText, validText)
    }
}
