// Inverted dropout: kept elements are scaled by 1/(1-p) during training so evaluation needs no
// rescaling.

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`, as
/// `torch.nn.functional.dropout`. Returns `input` itself when not training or `p == 0`.
/// Draws from `generator` (default `Generator.default`), so a fixed seed gives a fixed mask.
public func dropout(_ input: Tensor, p: Float = 0.5, training: Bool = true, generator: Generator? = nil,
                    file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    check(p >= 0 && p <= 1, "dropout", "probability has to be between 0 and 1, got \(p)", file: file, line: line)
    requireFloat(input, "dropout", "input", file: file, line: line)
    if !training || p == 0 { return input }
    let rng = generator ?? Generator.default
    let keepScale: Float = p == 1 ? 0 : 1 / (1 - p)
    // The mask holds 0 or 1/(1-p): the backward pass is a plain multiply.
    let mask = Tensor.make(shape: input.shape) { m in
        for i in 0..<m.count { m[i] = rng.nextFloat() < p ? 0 : keepScale }
    }
    let out = Tensor.binaryKernel(input, mask, outShape: input.shape, *)
    return Tensor.record(out, "dropout", [input]) { g, _ in
        [Tensor.binaryKernel(g, mask, outShape: g.shape, *)]
    }
}
