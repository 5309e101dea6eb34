import Foundation
import Torch

/// Scales the gradients of `parameters` in place so that their combined norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`), and returns the norm before clipping. Parameters without a
/// gradient are ignored. `normType` may be `.infinity` (largest absolute value).
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float, normType: Float = 2,
                         file: StaticString = #fileID, line: UInt = #line) -> Float {
    let grads = parameters.compactMap(\.grad)
    if grads.isEmpty { return 0 }
    var total: Double = 0
    if normType == .infinity {
        for g in grads { g.withUnsafeBufferPointer { b in for v in b { total = max(total, Double(abs(v))) } } }
    } else {
        guard normType > 0 else {
            engineFailure("clipGradNorm", "normType must be positive or .infinity, got \(normType)", file: file, line: line)
        }
        let p = Double(normType)
        // The p-norm of all elements equals PyTorch's norm of per-tensor norms; summed in Double.
        for g in grads {
            g.withUnsafeBufferPointer { b in for v in b { total += p == 2 ? Double(v) * Double(v) : pow(Double(abs(v)), p) } }
        }
        total = pow(total, 1 / p)
    }
    let norm = Float(total)
    let coef = min(maxNorm / (norm + 1e-6), 1)
    for g in grads {
        g.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] *= coef } }
    }
    return norm
}

/// Clamps every gradient element of `parameters` into `[-clipValue, clipValue]` in place
/// (`torch.nn.utils.clip_grad_value_`).
public func clipGradValue(_ parameters: [Tensor], clipValue: Float) {
    for p in parameters {
        p.grad?.withUnsafeMutableBufferPointer { b in
            for i in 0..<b.count { b[i] = min(max(b[i], -clipValue), clipValue) }
        }
    }
}
