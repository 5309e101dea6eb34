import Foundation

/// The server-sent-event channel every open page listens on: live reload after a rebuild and the
/// events of runs. Server-sent events rather than a websocket: the page only listens (runs and
/// stops are ordinary POSTs), EventSource reconnects by itself, and plain Hummingbird serves them
/// without another package.
final class EventHub: @unchecked Sendable {
    private let lock = NSLock()
    private var listeners: [UUID: AsyncStream<String>.Continuation] = [:]
    private var closed = false

    /// A new listener's stream of ready-to-send SSE messages.
    func subscribe() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id = UUID()
        lock.lock()
        if closed { lock.unlock(); continuation.finish(); return stream }
        listeners[id] = continuation
        lock.unlock()
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.lock(); self.listeners[id] = nil; self.lock.unlock()
        }
        return stream
    }

    var isClosed: Bool { lock.lock(); defer { lock.unlock() }; return closed }

    var listenerCount: Int { lock.lock(); defer { lock.unlock() }; return listeners.count }

    /// Sends one event to every listener; under the lock, so events keep their order.
    func send(event: String, json: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data("{}".utf8)
        send(raw: "event: \(event)\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
    }

    func send(raw message: String) {
        lock.lock()
        defer { lock.unlock() }
        for continuation in listeners.values { continuation.yield(message) }
    }

    func close() {
        lock.lock()
        closed = true
        let all = listeners.values
        listeners = [:]
        lock.unlock()
        all.forEach { $0.finish() }
    }
}
