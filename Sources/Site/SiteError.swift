/// A site build problem: a message naming the file (and line) concerned.
public struct SiteError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
