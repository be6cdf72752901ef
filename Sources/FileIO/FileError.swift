/// Problems reading or writing a file that a user can fix. Each description is one line: what is wrong, then
/// what to do.
public enum FileError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case isDirectory(String)
    case unreadable(String, reason: String)
    case invalidUTF8(file: String, line: Int)
    case unwritable(String, reason: String)
    /// A write ran out of space: the bytes the file needed, and those free on its file system (nil: unknown).
    case diskFull(String, needed: Int, available: Int?)

    public var description: String {
        switch self {
        case .fileNotFound(let p):
            return "file not found: \(p) (check the path)"
        case .isDirectory(let p):
            return "\(p) is a directory, not a text file (pass the files inside it)"
        case .unreadable(let p, let reason):
            return "cannot read \(p): \(reason) (check its permissions)"
        case .invalidUTF8(let file, let line):
            return "\(file):\(line): invalid UTF-8 (convert the file to UTF-8, e.g. with iconv -f LATIN1 -t UTF-8)"
        case .unwritable(let p, let reason):
            return "cannot write \(p): \(reason) (choose another place or fix its permissions)"
        case .diskFull(let p, let needed, let available):
            let free = available.map { megabytes($0) + " are" } ?? "an unknown amount is"
            return "cannot write \(p): the disk is full (the file needs \(megabytes(needed)); \(free) free there): free some space, then run again (the file it replaces is intact)"
        }
    }
}
