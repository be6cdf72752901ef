import FileIO

/// A text corpus as documents, one per line: a plain file's lines, or a .tsv file's text columns joined by a space.
public enum Documents {
    public static func lines(of path: String) throws -> [String] {
        let tsv = TextFile.isTSV(path)
        return try TextFile.lines(path).map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 }
    }
}
