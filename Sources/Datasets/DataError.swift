/// A problem with a corpus that its user can fix: one line naming the file (and line) and what to do.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
