/// Errors a user can act on; each is one line saying what is wrong and what to do.
public enum RunError: Error, CustomStringConvertible {
    case corpusTooSmall(file: String, tokens: Int, needed: Int)
    case vocabularyMismatch(tokenizer: Int, model: Int)
    case unwritable(String)
    case notARun(String)
    case badCheckpoint(String)
    case nonFinite(step: Int, what: String, checkpointStep: Int?)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .corpusTooSmall(let f, let n, let need):
            return "\(f) gives \(n) tokens, too few for one batch (\(need) needed): use more text, or a smaller --context or --batch-size"
        case .vocabularyMismatch(let t, let m):
            return "the tokenizer has \(t) tokens but the model expects \(m): use the tokenizer the run was trained with (RUN/tokenizer.json)"
        case .unwritable(let p):
            return "cannot write to \(p): choose another --output directory or fix its permissions"
        case .notARun(let p):
            return "\(p) is not an lmtrain run directory (no config.json): pass the --output directory of `lmtrain fit`"
        case .badCheckpoint(let why):
            return "\(why) (the checkpoint is damaged; restore it from a copy or start a new run)"
        case .nonFinite(let step, let what, let saved):
            let kept = saved.map { "the checkpoint of step \($0) is kept" } ?? "no checkpoint had been written yet"
            return "training stopped at step \(step): \(what) is not finite (lower --lr, or keep --clip on); \(kept)"
        case .invalidOption(let why):
            return why
        }
    }
}
