import Foundation
import Torch

extension Module {
    /// Moves the module's parameters and buffers to `device` (`model.to(device)`), returning the
    /// module. Everything lives on the CPU, so `.cpu` changes nothing; an unavailable device
    /// (`.cuda`, `.mps`) stops with a message saying the engine computes on the CPU only.
    @discardableResult
    public func to(_ device: Device, file: StaticString = #fileID, line: UInt = #line) -> Self {
        device.checkAvailable("to", file: file, line: line)
        return self
    }

    /// The module on the CPU (`model.cpu()`): the module itself.
    @discardableResult
    public func cpu() -> Self { self }
}

/// The outermost module being called on this thread: `model(x)` marks `model`, so a layer deep
/// inside can say which model it belongs to and under what dotted name. A pthread key, since
/// every module call reads it (Foundation's thread dictionary cost ~7 µs a call).
enum ModelCall {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static func run(_ module: Module, _ body: () -> Tensor) -> Tensor {
        let key = Self.key
        guard pthread_getspecific(key) == nil else { return body() }
        // Unretained: the caller keeps `module` alive for the call.
        pthread_setspecific(key, Unmanaged.passUnretained(module).toOpaque())
        defer { pthread_setspecific(key, nil) }
        return body()
    }

    /// The model being called on this thread, if any.
    static var root: Module? {
        pthread_getspecific(key).map { Unmanaged<Module>.fromOpaque($0).takeUnretainedValue() }
    }
}
