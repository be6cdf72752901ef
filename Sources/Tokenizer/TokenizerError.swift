/// Errors a user can fix. Each description is one line: what is wrong, then what to do.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case emptyCorpus([String])
    case vocabularyTooSmall(requested: Int, minimum: Int)
    case corruptTokenizerFile(String, reason: String)
    case unsupportedVersion(String, found: Int, supported: Int)
    case icu(String)
    case unknownId(Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .emptyCorpus(let files):
            return "no text to train on in \(files.joined(separator: ", ")) (the files are empty or hold only blank lines)"
        case .vocabularyTooSmall(let requested, let minimum):
            return "vocabulary size \(requested) is too small: 256 byte tokens, the special tokens and the space marker need \(minimum) (pass --vocab-size \(minimum) or more)"
        case .corruptTokenizerFile(let p, let reason):
            return "\(p) is not a valid lmtrain tokenizer file: \(reason) (re-create it with `lmtrain tokenizer train`)"
        case .unsupportedVersion(let p, let found, let supported):
            return "\(p) has tokenizer format version \(found); this lmtrain reads version \(supported) (re-create it with `lmtrain tokenizer train`)"
        case .icu(let what):
            return "ICU failed: \(what) (is libicu installed? run scripts/setup)"
        case .unknownId(let id, let v):
            return "token id \(id) is outside the vocabulary (0..<\(v)) (decode ids produced by the same tokenizer)"
        }
    }
}
