import Foundation

// Winograd F(2x2, 3x3) for 3x3 stride-1 undilated convolutions (Lavin & Gray, 2015). Each 2x2
// block of outputs comes from a 4x4 input tile: with U = G g Gᵀ (weights) and V = Bᵀ d B (tiles),
// Y = Aᵀ [U ⊙ V] A. Summed over input channels, the element-wise products become 16 GEMMs
// [O, C] x [C, tiles]: 16 multiplies per 2x2 outputs instead of 36, 2.25x fewer flops than im2col.
// Tiles are processed in chunks so the transformed tiles stay in cache between the three steps.
//
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//   Aᵀ = [1 1 1 0; 0 1 -1 -1]

extension ConvGeometry {
    /// Off unless `WORKBOOK_WINOGRAD=1`: on the (loaded) 2-core test machine this version measured
    /// slower than im2col for ResNet-18 layer1 (64 ch, 56x56: 49 -> 87-93 ms forward) and mixed
    /// elsewhere; the transforms are scalar and the 16 GEMMs [64 x 64] x [64 x 512] too small.
    /// Tests run both paths and check that they agree.
    nonisolated(unsafe) static var winogradEnabled = ProcessInfo.processInfo.environment["WORKBOOK_WINOGRAD"] == "1"

    /// 3x3, stride 1, no dilation, one group, enough channels for the small GEMMs to pay off.
    var usesWinograd: Bool {
        ConvGeometry.winogradEnabled && kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1
            && groups == 1 && c >= 32 && o >= 32 && ho >= 2 && wo >= 2
    }

    func winogradForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>) {
        let tw = (wo + 1) / 2, th = (ho + 1) / 2
        let total = n * th * tw
        let budget = max(1 << 18, ConvGeometry.chunkBudget * max(1, Threads.count) * 4)
        let chunk = max(32, min(total, budget / (16 * (c + o))))
        ScratchPool.shared.withBuffer(16 * o * c + 16 * (c + o) * chunk) { scratch in
            let u = scratch, v = scratch + 16 * o * c, m = v + 16 * c * chunk
            winogradWeights(weight, into: u)
            var t0 = 0
            while t0 < total {
                let count = min(chunk, total - t0)
                winogradInput(x, first: t0, count: count, into: v)
                for k in 0..<16 {
                    sgemm(m: o, n: count, k: c, u + k * o * c, lda: c, v + k * c * count, ldb: count,
                          m + k * o * count, ldc: count)
                }
                winogradOutput(m, first: t0, count: count, bias: bias, into: y)
                t0 += count
            }
        }
    }

    /// U = G g Gᵀ for every (out, in) channel pair, stored as 16 matrices [O, C].
    private func winogradWeights(_ weight: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let pairs = o * c, c = self.c
        Threads.parallelFor(pairs, costPerItem: 64) { range in
            for pair in range {
                let g = weight + pair * 9
                var gg = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())  // columns 0..2 of G g, each 4 rows
                for j in 0..<3 {
                    let a = g[j], b = g[3 + j], d = g[6 + j]
                    let col = SIMD4<Float>(a, 0.5 * (a + b + d), 0.5 * (a - b + d), d)
                    switch j { case 0: gg.0 = col; case 1: gg.1 = col; default: gg.2 = col }
                }
                // (G g) Gᵀ: combine the three columns.
                let c0 = gg.0, c1 = 0.5 * (gg.0 + gg.1 + gg.2), c2 = 0.5 * (gg.0 - gg.1 + gg.2), c3 = gg.2
                let oc = pair / c, ic = pair % c
                let base = oc * c + ic, stride = o * c
                for i in 0..<4 {
                    u[(i * 4 + 0) * stride + base] = c0[i]
                    u[(i * 4 + 1) * stride + base] = c1[i]
                    u[(i * 4 + 2) * stride + base] = c2[i]
                    u[(i * 4 + 3) * stride + base] = c3[i]
                }
            }
        }
    }

    /// V = Bᵀ d B for tiles `first..<first+count` of every channel, stored as 16 matrices [C, count].
    private func winogradInput(_ x: UnsafePointer<Float>, first: Int, count: Int, into v: UnsafeMutablePointer<Float>) {
        let (c, h, w, ph, pw) = (c, h, w, ph, pw)
        let tw = (wo + 1) / 2, th = (ho + 1) / 2, perImage = th * tw
        let stride = c * count
        Threads.parallelFor(c, costPerItem: count * 16) { range in
            for ch in range {
                var img = first / perImage, ti = (first % perImage) / tw, tj = first % tw
                let out = v + ch * count
                for t in 0..<count {
                    let plane = x + (img * c + ch) * h * w
                    let ih0 = 2 * ti - ph, iw0 = 2 * tj - pw
                    // The 4x4 tile as four rows, zero outside the image.
                    let inside = ih0 >= 0 && iw0 >= 0 && ih0 + 4 <= h && iw0 + 4 <= w
                    @inline(__always) func row(_ r: Int) -> SIMD4<Float> {
                        let ih = ih0 + r
                        if inside { return UnsafeRawPointer(plane + ih * w + iw0).loadUnaligned(as: SIMD4<Float>.self) }
                        var v = SIMD4<Float>()
                        if ih >= 0 && ih < h {
                            for q in 0..<4 where iw0 + q >= 0 && iw0 + q < w { v[q] = plane[ih * w + iw0 + q] }
                        }
                        return v
                    }
                    let d0 = row(0), d1 = row(1), d2 = row(2), d3 = row(3)
                    // Bᵀ d: combine rows; then (Bᵀ d) B: combine the columns of each row.
                    @inline(__always) func store(_ i: Int, _ r: SIMD4<Float>) {
                        let o = out + (i * 4) * stride + t
                        o[0] = r[0] - r[2]
                        o[stride] = r[1] + r[2]
                        o[2 * stride] = r[2] - r[1]
                        o[3 * stride] = r[1] - r[3]
                    }
                    store(0, d0 - d2)
                    store(1, d1 + d2)
                    store(2, d2 - d1)
                    store(3, d1 - d3)
                    tj += 1
                    if tj == tw { tj = 0; ti += 1; if ti == th { ti = 0; img += 1 } }
                }
            }
        }
    }

    /// Y = Aᵀ M A for tiles `first..<first+count`, written (plus bias) into the output planes.
    private func winogradOutput(_ m: UnsafePointer<Float>, first: Int, count: Int, bias: UnsafePointer<Float>?,
                                into y: UnsafeMutablePointer<Float>) {
        let (o, ho, wo) = (o, ho, wo)
        let tw = (wo + 1) / 2, th = (ho + 1) / 2, perImage = th * tw
        let stride = o * count
        Threads.parallelFor(o, costPerItem: count * 16) { range in
            for oc in range {
                let b = bias?[oc] ?? 0
                var img = first / perImage, ti = (first % perImage) / tw, tj = first % tw
                let src = m + oc * count
                for t in 0..<count {
                    let p = src + t
                    // Aᵀ M: combine rows (each row of M is 4 values k = i*4 + j).
                    var s0 = SIMD4<Float>(), s1 = SIMD4<Float>()
                    for j in 0..<4 {
                        let m0 = p[j * stride], m1 = p[(4 + j) * stride], m2 = p[(8 + j) * stride], m3 = p[(12 + j) * stride]
                        s0[j] = m0 + m1 + m2
                        s1[j] = m1 - m2 - m3
                    }
                    let y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b
                    let y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b
                    let oh = 2 * ti, ow = 2 * tj
                    let plane = y + (img * o + oc) * ho * wo
                    plane[oh * wo + ow] = y00
                    if ow + 1 < wo { plane[oh * wo + ow + 1] = y01 }
                    if oh + 1 < ho {
                        plane[(oh + 1) * wo + ow] = y10
                        if ow + 1 < wo { plane[(oh + 1) * wo + ow + 1] = y11 }
                    }
                    tj += 1
                    if tj == tw { tj = 0; ti += 1; if ti == th { ti = 0; img += 1 } }
                }
            }
        }
    }
}
