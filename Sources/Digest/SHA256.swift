import Foundation
// Implementation-only: lesson programs import the engine's modules, and must not need Crypto's.
internal import Crypto

/// SHA-256 as lower-case hex, for cache keys, input fingerprints and model checksums; swift-crypto
/// computes it.
public struct SHA256 {
    /// A box, because a public struct's stored properties may not have an implementation-only
    /// type; copied before a shared one is changed, so `SHA256` keeps value semantics.
    private final class State {
        var hasher = Crypto.SHA256()
        init() {}
        init(copying other: State) { hasher = other.hasher }
    }
    private var state = State()

    public init() {}

    private mutating func unique() {
        if !isKnownUniquelyReferenced(&state) { state = State(copying: state) }
    }

    public mutating func update(_ data: Data) {
        unique()
        state.hasher.update(data: data)
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        update(Data(bytes))
    }

    public mutating func update(_ string: String) { update(Data(string.utf8)) }

    /// The digest of everything added so far, as 64 hex digits.
    public mutating func finalize() -> String {
        unique()
        return state.hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public static func hex(_ data: Data) -> String { var h = SHA256(); h.update(data); return h.finalize() }
    public static func hex(_ string: String) -> String { var h = SHA256(); h.update(string); return h.finalize() }
}
