import FileIO

/// A text corpus as documents, one per line: a plain file's lines, or a .tsv file's text columns joined by a space.
public enum Documents {
    public static func lines(of path: String) throws -> [String] {
        let tsv = TextFile.isTSV(path)
        return try TextFile.lines(path).map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 }
    }

    /// The documents of lines `range` only (0-based), streamed: the rest of the file is read but never held.
    public static func lines(of path: String, range: Range<Int>) throws -> [String] {
        let tsv = TextFile.isTSV(path)
        var out: [String] = [], index = 0
        try TextFile.forEachLineBlock(path) { block, _ in
            let lo = max(range.lowerBound - index, 0), hi = min(range.upperBound - index, block.count)
            if lo < hi { out += block[lo..<hi].map { tsv ? TextFile.textFields(of: $0, isTSV: true).joined(separator: " ") : $0 } }
            index += block.count
        }
        return out
    }
}
