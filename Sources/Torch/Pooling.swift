import CEngineSupport
import Foundation

// 2-D pooling over [N, C, H, W] (or [C, H, W]) inputs. Every (image, channel) plane is
// independent, so forward and backward run in parallel over planes, each plane owned by one
// work item (deterministic).

/// Max pooling, as `torch.nn.functional.max_pool2d`; `stride` defaults to `kernelSize`.
public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), ceilMode: Bool = false,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let p = PoolGeometry(op: "maxPool2d", input: input, kernel: kernelSize, stride: stride ?? kernelSize,
                         padding: padding, dilation: dilation, ceilMode: ceilMode, file: file, line: line)
    let planes = p.planes, ohw = p.ho * p.wo
    if planes == 0 { return emptyResult(p.outputShape(input.shape), "maxPool2d", [input]) }
    if !(GradMode.isEnabled && input.requiresGrad) {
        // Nobody will ask for a gradient: values only (ResNet's stem pooling in eval).
        return Tensor.make(shape: p.outputShape(input.shape)) { y in
            input.storage.withUnsafeBufferPointer { px in
                let x = px.baseAddress!, yo = y.baseAddress!
                Threads.parallelFor(planes, costPerItem: p.h * p.w * p.kh) { range in p.maxPlanes(range, x, yo, nil) }
            }
        }
    }
    var indices = [Int32](repeating: 0, count: planes * ohw)
    let out = Tensor.make(shape: p.outputShape(input.shape)) { y in
        input.storage.withUnsafeBufferPointer { px in
            indices.withUnsafeMutableBufferPointer { pi in
                let x = px.baseAddress!, yo = y.baseAddress!, idx = pi.baseAddress!
                Threads.parallelFor(planes, costPerItem: ohw * p.kh * p.kw) { range in p.maxPlanes(range, x, yo, idx) }
            }
        }
    }
    let hw = p.h * p.w, inputShape = input.shape, savedIndices = indices
    return Tensor.record(out, "maxPool2d", [input]) { g, _ in
        let gx = Tensor.make(shape: inputShape) { gx in
            g.storage.withUnsafeBufferPointer { pg in
                savedIndices.withUnsafeBufferPointer { pi in
                    let gp = pg.baseAddress!, idx = pi.baseAddress!, gxp = gx.baseAddress!
                    Threads.parallelFor(planes, costPerItem: ohw + hw) { range in
                        for plane in range {
                            let d = gxp + plane * hw, s = gp + plane * ohw, ix = idx + plane * ohw
                            d.update(repeating: 0, count: hw)
                            for i in 0..<ohw where ix[i] >= 0 { d[Int(ix[i])] += s[i] }
                        }
                    }
                }
            }
        }
        return [gx]
    }
}

/// Average pooling, as `torch.nn.functional.avg_pool2d`; `stride` defaults to `kernelSize`.
/// With `countIncludePad` the divisor counts padded positions (but not the extra ceil-mode cells).
public func avgPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), ceilMode: Bool = false, countIncludePad: Bool = true,
                      file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let p = PoolGeometry(op: "avgPool2d", input: input, kernel: kernelSize, stride: stride ?? kernelSize,
                         padding: padding, dilation: (1, 1), ceilMode: ceilMode, file: file, line: line)
    let planes = p.planes, ohw = p.ho * p.wo, hw = p.h * p.w
    if planes == 0 { return emptyResult(p.outputShape(input.shape), "avgPool2d", [input]) }
    let out = Tensor.make(shape: p.outputShape(input.shape)) { y in
        input.storage.withUnsafeBufferPointer { px in
            let x = px.baseAddress!, yo = y.baseAddress!
            Threads.parallelFor(planes, costPerItem: ohw * p.kh * p.kw) { range in
                for plane in range {
                    p.avgPlane(x + plane * hw, yo + plane * ohw, countIncludePad: countIncludePad, backward: false)
                }
            }
        }
    }
    let inputShape = input.shape
    return Tensor.record(out, "avgPool2d", [input]) { g, _ in
        let gx = Tensor.make(shape: inputShape) { gx in
            g.storage.withUnsafeBufferPointer { pg in
                let gp = pg.baseAddress!, gxp = gx.baseAddress!
                Threads.parallelFor(planes, costPerItem: ohw * p.kh * p.kw) { range in
                    for plane in range {
                        (gxp + plane * hw).update(repeating: 0, count: hw)
                        p.avgPlane(gp + plane * ohw, gxp + plane * hw,
                                   countIncludePad: countIncludePad, backward: true)
                    }
                }
            }
        }
        return [gx]
    }
}

/// Adaptive average pooling to `outputSize`, as `torch.nn.functional.adaptive_avg_pool2d`:
/// output cell `i` averages input rows `floor(i*H/Ho) ..< ceil((i+1)*H/Ho)` (same for columns).
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int),
                              file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    let op = "adaptiveAvgPool2d"
    requireFloat(input, op, "input", file: file, line: line)
    check(input.rank == 4 || input.rank == 3, op,
          "expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got shape \(describe(shape: input.shape))", file: file, line: line)
    let (ho, wo) = outputSize
    check(ho >= 1 && wo >= 1, op, "output size must be positive, got (\(ho), \(wo))", file: file, line: line)
    let h = input.shape[input.rank - 2], w = input.shape[input.rank - 1]
    check(h >= 1 && w >= 1, op, "input \(describe(shape: input.shape)) has an empty spatial size", file: file, line: line)
    let planes = input.count / (h * w), hw = h * w, ohw = ho * wo
    let outShape = Array(input.shape.dropLast(2)) + [ho, wo]
    if planes == 0 { return emptyResult(outShape, op, [input]) }
    let rowStart = (0..<ho).map { $0 * h / ho }, rowEnd = (0..<ho).map { (($0 + 1) * h + ho - 1) / ho }
    let colStart = (0..<wo).map { $0 * w / wo }, colEnd = (0..<wo).map { (($0 + 1) * w + wo - 1) / wo }
    let global = ho == 1 && wo == 1
    let out = Tensor.make(shape: outShape) { y in
        input.storage.withUnsafeBufferPointer { px in
            let x = px.baseAddress!, yo = y.baseAddress!
            Threads.parallelFor(planes, costPerItem: hw) { range in
                for plane in range {
                    let src = x + plane * hw
                    if global {
                        var s: Float = 0
                        for i in 0..<hw { s += src[i] }
                        yo[plane] = s / Float(hw)
                        continue
                    }
                    for oi in 0..<ho {
                        for oj in 0..<wo {
                            var s: Float = 0
                            for i in rowStart[oi]..<rowEnd[oi] {
                                for j in colStart[oj]..<colEnd[oj] { s += src[i * w + j] }
                            }
                            let area = (rowEnd[oi] - rowStart[oi]) * (colEnd[oj] - colStart[oj])
                            yo[plane * ohw + oi * wo + oj] = s / Float(area)
                        }
                    }
                }
            }
        }
    }
    let inputShape = input.shape
    return Tensor.record(out, op, [input]) { g, _ in
        let gx = Tensor.make(shape: inputShape) { gx in
            g.storage.withUnsafeBufferPointer { pg in
                let gp = pg.baseAddress!, gxp = gx.baseAddress!
                Threads.parallelFor(planes, costPerItem: hw) { range in
                    for plane in range {
                        let d = gxp + plane * hw
                        if global {
                            d.update(repeating: gp[plane] / Float(hw), count: hw)
                            continue
                        }
                        d.update(repeating: 0, count: hw)
                        for oi in 0..<ho {
                            for oj in 0..<wo {
                                let area = (rowEnd[oi] - rowStart[oi]) * (colEnd[oj] - colStart[oj])
                                let v = gp[plane * ohw + oi * wo + oj] / Float(area)
                                for i in rowStart[oi]..<rowEnd[oi] {
                                    for j in colStart[oj]..<colEnd[oj] { d[i * w + j] += v }
                                }
                            }
                        }
                    }
                }
            }
        }
        return [gx]
    }
}

/// Validated window geometry shared by max and average pooling.
struct PoolGeometry {
    let planes: Int, h: Int, w: Int
    let kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int
    let ho: Int, wo: Int

    init(op: String, input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
         dilation: (Int, Int), ceilMode: Bool, file: StaticString, line: UInt) {
        requireFloat(input, op, "input", file: file, line: line)
        check(input.rank == 4 || input.rank == 3, op,
              "expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]), got shape \(describe(shape: input.shape))", file: file, line: line)
        check(kernel.0 >= 1 && kernel.1 >= 1, op, "kernel size must be positive, got (\(kernel.0), \(kernel.1))", file: file, line: line)
        check(stride.0 >= 1 && stride.1 >= 1, op, "stride must be positive, got (\(stride.0), \(stride.1))", file: file, line: line)
        check(dilation.0 >= 1 && dilation.1 >= 1, op, "dilation must be positive, got (\(dilation.0), \(dilation.1))", file: file, line: line)
        (kh, kw) = kernel; (sh, sw) = stride; (ph, pw) = padding; (dh, dw) = dilation
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        check(ph >= 0 && pw >= 0 && ph <= effH / 2 && pw <= effW / 2, op,
              "padding (\(ph), \(pw)) must be non-negative and at most half the kernel size (\(kh), \(kw))", file: file, line: line)
        h = input.shape[input.rank - 2]; w = input.shape[input.rank - 1]
        planes = h * w == 0 ? 0 : input.count / (h * w)
        func outSize(_ size: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
            let span = size + 2 * p - d * (k - 1) - 1
            if span < 0 { return 0 }
            var out = (ceilMode ? (span + s - 1) / s : span / s) + 1
            // The last window must start inside the input or its left padding.
            if ceilMode && (out - 1) * s >= size + p { out -= 1 }
            return out
        }
        ho = outSize(h, kh, sh, ph, dh); wo = outSize(w, kw, sw, pw, dw)
        check(ho >= 1 && wo >= 1, op,
              "input \(describe(shape: input.shape)) is too small for kernel (\(kh), \(kw)) with padding (\(ph), \(pw)) and dilation (\(dh), \(dw))",
              file: file, line: line)
    }

    func outputShape(_ inputShape: [Int]) -> [Int] { Array(inputShape.dropLast(2)) + [ho, wo] }

    /// Max-pools the planes in `range` of `x` into `y`, and each output's flat input index into
    /// `idx` when given: the AVX-512 kernel where it runs, else the row-vectorised Swift loops
    /// (dilation 1) or the plain window loop.
    func maxPlanes(_ range: Range<Int>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                   _ idx: UnsafeMutablePointer<Int32>?, kernel: Bool = PoolGeometry.kernelAvailable, rowVectorised: Bool = true) {
        let hw = h * w, ohw = ho * wo
        if dh == 1 && dw == 1 && kernel {
            let scratch = UnsafeMutablePointer<Float>.allocate(
                capacity: engine_max_pool_scratch_floats(Int32(w), Int32(kw), Int32(sw), Int32(pw), Int32(wo)))
            defer { scratch.deallocate() }
            for plane in range {
                engine_max_pool_plane(x + plane * hw, Int32(h), Int32(w), Int32(kh), Int32(kw), Int32(sh), Int32(sw),
                                      Int32(ph), Int32(pw), Int32(ho), Int32(wo), y + plane * ohw,
                                      idx.map { $0 + plane * ohw }, scratch)
            }
        } else if dh == 1 && dw == 1 && rowVectorised {
            let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: paddedRowWidth)
            let rowArg = UnsafeMutablePointer<Int32>.allocate(capacity: paddedRowWidth + wo)
            defer { rowMax.deallocate(); rowArg.deallocate() }
            for plane in range {
                if let idx {
                    maxPlaneIndexed(x + plane * hw, y + plane * ohw, idx + plane * ohw, rowMax, rowArg)
                } else {
                    maxPlaneValues(x + plane * hw, y + plane * ohw, rowMax)
                }
            }
        } else {
            let scratchIndices = idx == nil ? UnsafeMutablePointer<Int32>.allocate(capacity: ohw) : nil
            defer { scratchIndices?.deallocate() }
            for plane in range { maxPlane(x + plane * hw, y + plane * ohw, idx.map { $0 + plane * ohw } ?? scratchIndices!) }
        }
    }

    static let kernelAvailable = engine_max_pool_available() != 0 && ProcessInfo.processInfo.environment["WORKBOOK_POOL_KERNEL"] != "0"

    /// Max of each window of one plane; `idx` gets the flat input index of the max (-1 if the
    /// window holds only padding). NaN wins, as in PyTorch.
    @inline(__always)
    func maxPlane(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>) {
        for oh in 0..<ho {
            let h0 = oh * sh - ph
            for ow in 0..<wo {
                let w0 = ow * sw - pw
                var best = -Float.infinity
                var bestIndex: Int32 = -1
                for ki in 0..<kh {
                    let ih = h0 + ki * dh
                    if ih < 0 || ih >= h { continue }
                    for kj in 0..<kw {
                        let iw = w0 + kj * dw
                        if iw < 0 || iw >= w { continue }
                        let v = x[ih * w + iw]
                        if v > best || v.isNaN || bestIndex < 0 {
                            best = v
                            bestIndex = Int32(ih * w + iw)
                            if v.isNaN { break }
                        }
                    }
                    if best.isNaN { break }
                }
                y[oh * wo + ow] = best
                idx[oh * wo + ow] = bestIndex
            }
        }
    }

    /// Floats `maxPlaneValues` needs in its row buffer: the row with its padding on both sides,
    /// and as far as the last (ceil-mode) window reaches.
    var paddedRowWidth: Int { max(w + 2 * pw, (wo - 1) * sw + kw) }

    /// `maxPlane` without indices, for dilation 1: the window rows are first reduced to one row
    /// (`rowMax`, `paddedRowWidth` floats of scratch) with SIMD, then each output takes the max of
    /// its columns. Any NaN in a window gives NaN, as in `maxPlane`.
    @inline(__always)
    func maxPlaneValues(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ rowMax: UnsafeMutablePointer<Float>) {
        // rowMax[pw + j] holds the window rows' max of column j, -inf in the padding, so output ow
        // reduces rowMax[ow*sw ..< ow*sw + kw]: loops over fixed offsets that the compiler vectorises.
        let padded = paddedRowWidth
        rowMax.update(repeating: -Float.infinity, count: padded)
        let row = rowMax + pw
        for oh in 0..<ho {
            let h0 = oh * sh - ph
            let lo = max(h0, 0), hi = min(h0 + kh, h)
            let out = y + oh * wo
            if lo >= hi {
                out.update(repeating: -Float.infinity, count: wo)
                continue
            }
            row.update(from: x + lo * w, count: w)
            for r in (lo + 1)..<max(hi, lo + 1) { vectorMaxInPlace(row, x + r * w, w) }
            for ow in 0..<wo { out[ow] = rowMax[ow * sw] }
            for k in 1..<max(kw, 1) {
                for ow in 0..<wo {
                    let v = rowMax[ow * sw + k], best = out[ow]
                    out[ow] = v > best || v.isNaN ? v : best
                }
            }
        }
    }

    /// `maxPlane` for dilation 1, row-vectorised: the window rows are reduced per column to their
    /// max and the first row holding it (`rowMax`, `rowArg`), then each output picks, among its
    /// columns, the largest value with the smallest row, then the smallest column. That is the
    /// first maximum in row-major window order, the index `maxPlane` (and PyTorch) gives; NaN wins.
    @inline(__always)
    func maxPlaneIndexed(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>,
                         _ rowMax: UnsafeMutablePointer<Float>, _ rowArg: UnsafeMutablePointer<Int32>) {
        // As in maxPlaneValues, rowMax/rowArg are padded (-inf, and a row that never wins a tie), so
        // each output compares the same kw offsets with no bounds checks. rowArg holds `wo` more
        // entries after the padded row: each output's best row so far.
        let padded = paddedRowWidth, never = Int32.max
        rowMax.update(repeating: -Float.infinity, count: padded)
        rowArg.update(repeating: never, count: padded)
        let row = rowMax + pw, arg = rowArg + pw, bestRow = rowArg + padded
        for oh in 0..<ho {
            let h0 = oh * sh - ph
            let lo = max(h0, 0), hi = min(h0 + kh, h)
            let out = y + oh * wo, outIdx = idx + oh * wo
            if lo >= hi {
                out.update(repeating: -Float.infinity, count: wo)
                outIdx.update(repeating: -1, count: wo)
                continue
            }
            row.update(from: x + lo * w, count: w)
            arg.update(repeating: Int32(lo), count: w)
            for r in (lo + 1)..<max(hi, lo + 1) { vectorArgMaxInPlace(row, arg, x + r * w, Int32(r), w) }
            // First maximum in row-major window order (smallest row, then column); NaN wins.
            for ow in 0..<wo {
                out[ow] = rowMax[ow * sw]
                bestRow[ow] = rowArg[ow * sw]
                outIdx[ow] = Int32(ow * sw - pw)  // the column; the row joins it at the end
            }
            for k in 1..<max(kw, 1) {
                for ow in 0..<wo {
                    let v = rowMax[ow * sw + k], r = rowArg[ow * sw + k], best = out[ow], br = bestRow[ow]
                    let take = best.isNaN ? (v.isNaN && r < br) : (v.isNaN || v > best || (v == best && r < br))
                    if take {
                        out[ow] = v
                        bestRow[ow] = r
                        outIdx[ow] = Int32(ow * sw + k - pw)
                    }
                }
            }
            for ow in 0..<wo { outIdx[ow] = bestRow[ow] == never ? -1 : bestRow[ow] * Int32(w) + outIdx[ow] }
        }
    }

    /// Forward: `a` is the input plane, `b` the output plane. Backward: `a` is the output gradient,
    /// `b` the (zeroed) input gradient plane that receives each window's share.
    @inline(__always)
    func avgPlane(_ a: UnsafePointer<Float>, _ b: UnsafeMutablePointer<Float>, countIncludePad: Bool, backward: Bool) {
        for oh in 0..<ho {
            var h0 = oh * sh - ph
            var h1 = min(h0 + kh, h + ph)
            let poolH = h1 - h0
            h0 = max(h0, 0); h1 = min(h1, h)
            for ow in 0..<wo {
                var w0 = ow * sw - pw
                var w1 = min(w0 + kw, w + pw)
                let poolW = w1 - w0
                w0 = max(w0, 0); w1 = min(w1, w)
                let o = oh * wo + ow
                if h0 >= h1 || w0 >= w1 {
                    if !backward { b[o] = 0 }
                    continue
                }
                let divisor = Float(countIncludePad ? poolH * poolW : (h1 - h0) * (w1 - w0))
                if backward {
                    let v = a[o] / divisor
                    for i in h0..<h1 { for j in w0..<w1 { b[i * w + j] += v } }
                } else {
                    var s: Float = 0
                    for i in h0..<h1 { for j in w0..<w1 { s += a[i * w + j] } }
                    b[o] = s / divisor
                }
            }
        }
    }
}
