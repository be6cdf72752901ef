import FileIO

/// The validation split of a corpus given without a validation file: its last lines (whole documents, or
/// whole pairs), max(1, ⌊n·fraction⌋) of them. The one place this split is defined, so training, `eval`'s
/// temperature fit and the study all see the same lines.
public enum Holdout {
    /// Lines (of `count`) held out for validation.
    public static func size(of count: Int, fraction: Double) -> Int { max(1, Int(Double(count) * fraction)) }

    /// Lines of `file` that train (the first ones) and its line count, counted without reading it into memory;
    /// throws as `split` does.
    public static func split(file: String, fraction: Double) throws -> (trainLines: Int, lines: Int) {
        let n = try TextFile.lineCount(file)
        let held = size(of: n, fraction: fraction)
        guard n > held else { throw tooFew(file, n) }
        return (n - held, n)
    }

    static func tooFew(_ what: String, _ n: Int) -> DataError {
        DataError("\(what) has \(n) usable line(s): too few to hold out validation lines and still train (use more text, or pass --valid FILE)")
    }

    /// (training, validation) parts of `items`; throws when nothing would be left to train on.
    public static func split<T>(_ items: [T], fraction: Double, what: String) throws -> (train: [T], valid: [T]) {
        let held = size(of: items.count, fraction: fraction)
        guard items.count > held else { throw tooFew(what, items.count) }
        return (Array(items.dropLast(held)), Array(items.suffix(held)))
    }
}
