// AVX-512 kernels for convolutions over "flat" planes (the lowering lives in
// Torch/DirectConvolution.swift). A padded input plane is stored row after row; an output pixel
// q = oh * rowWidth + ow then reads tap t at q + offset[t], so a whole convolution is a sum of
// shifted plane copies weighted per channel pair. No im2col matrix is built: sixteen neighbouring
// output pixels are one vector load per tap, which keeps small-channel layers compute-bound.
#include "CEngineSupport.h"
#include "epilogue.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

// The engine applies this epilogue on every machine; fmaf rounds as the vector FMA does.
static void channel_affine_scalar(float *y, int O, long plane, const float *scale, const float *shift,
                                  const float *residual, int relu) {
    for (int o = 0; o < O; o++) {
        const float a = scale ? scale[o] : 1.0f, b = shift ? shift[o] : 0.0f;
        float *d = y + (long)o * plane;
        const float *r = residual ? residual + (long)o * plane : NULL;
        for (long j = 0; j < plane; j++) {
            float v = fmaf(d[j], a, b);
            if (r) v += r[j];
            d[j] = relu && v < 0 ? 0 : v;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define INLINE inline __attribute__((always_inline))

enum { FWD_VECTORS = 6, FWD_CHANNELS = 4, WG_OUT = 4, WG_TAPS = 5 };

AVX512 static INLINE __mmask16 lanes(long count) {
    if (count <= 0) return 0;
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

// One tile: four output channels x NV vectors of 16 output pixels. `pos[k]` is where the k-th
// (channel, tap) pair reads; one flat loop over the pairs keeps all accumulators in registers.
#define DEFINE_FORWARD_TILE(NV)                                                                          \
    AVX512 static void forward_tile_##NV(const float *in, const long *pos, long K, const float *wb,       \
                                         float *out, long ocs, int cob, const __mmask16 *mask,          \
                                         int accumulate) {                                              \
        __m512 a0[NV], a1[NV], a2[NV], a3[NV];                                                           \
        for (int v = 0; v < NV; v++) a0[v] = a1[v] = a2[v] = a3[v] = _mm512_setzero_ps();                \
        __mmask16 m[NV];                                                                                 \
        for (int v = 0; v < NV; v++) m[v] = mask[v];                                                     \
        for (long k = 0; k < K; k++, wb += FWD_CHANNELS) {                                               \
            const float *p = in + pos[k];                                                                \
            __m512 w0 = _mm512_set1_ps(wb[0]), w1 = _mm512_set1_ps(wb[1]);                               \
            __m512 w2 = _mm512_set1_ps(wb[2]), w3 = _mm512_set1_ps(wb[3]);                               \
            for (int v = 0; v < NV; v++) {                                                               \
                __m512 x = _mm512_maskz_loadu_ps(m[v], p + 16 * v);                                      \
                a0[v] = _mm512_fmadd_ps(w0, x, a0[v]);                                                   \
                a1[v] = _mm512_fmadd_ps(w1, x, a1[v]);                                                   \
                a2[v] = _mm512_fmadd_ps(w2, x, a2[v]);                                                   \
                a3[v] = _mm512_fmadd_ps(w3, x, a3[v]);                                                   \
            }                                                                                            \
        }                                                                                                \
        __m512 *rows[FWD_CHANNELS] = {a0, a1, a2, a3};                                                   \
        for (int j = 0; j < cob; j++) {                                                                  \
            float *o = out + j * ocs;                                                                    \
            for (int v = 0; v < NV; v++) {                                                               \
                __m512 r = rows[j][v];                                                                   \
                if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m[v], o + 16 * v));           \
                _mm512_mask_storeu_ps(o + 16 * v, m[v], r);                                              \
            }                                                                                            \
        }                                                                                                \
    }

DEFINE_FORWARD_TILE(1)
DEFINE_FORWARD_TILE(2)
DEFINE_FORWARD_TILE(3)
DEFINE_FORWARD_TILE(4)
DEFINE_FORWARD_TILE(5)
DEFINE_FORWARD_TILE(6)

// Pairs per pass over a span: the span's input rows for 64 pairs (at most 64 x 96 floats, 24 KB)
// stay in L1 while every block of output channels reads them. With all of K at once, wide layers
// (K = 256-2304) streamed their input from L2 once per block of four outputs (measured, ResNet-18
// forward: layer3 3x3 8.3 -> 7.2 ms, layer2 3x3/2 7.5 -> 6.4 ms; 32 and 128 were slower than 64).
enum { FWD_K_BLOCK = 64 };

AVX512 static void forward_avx512(const float *in, long ics, int C, int T, const long *off,
                                  const float *wpack, int O, float *out, long ocs, long Q, int accumulate) {
    const long K = (long)C * T, KB = FWD_K_BLOCK;
    long pos_stack[1024];
    long *pos = K <= 1024 ? pos_stack : (long *)malloc(sizeof(long) * (size_t)K);
    if (pos == NULL) return;
    for (long k = 0; k < K; k++) pos[k] = (k / T) * ics + off[k % T];
    // Vectors split evenly over the fewest spans of at most FWD_VECTORS: 7 vectors run as 3 + 4,
    // not as 6 + 1 (a one-vector tile spends as much on broadcasts as on multiplies).
    const long vectors = (Q + 15) / 16, spans = (vectors + FWD_VECTORS - 1) / FWD_VECTORS;
    for (long sp = 0; sp < spans; sp++) {
        long v0 = vectors * sp / spans, v1 = vectors * (sp + 1) / spans;
        long q0 = 16 * v0, rem = (16 * v1 < Q ? 16 * v1 : Q) - q0;
        int nv = (int)(v1 - v0);
        __mmask16 mask[FWD_VECTORS];
        for (int v = 0; v < FWD_VECTORS; v++) mask[v] = lanes(rem - 16L * v);
        for (long k0 = 0; k0 < K; k0 += KB) {
            const long kc = K - k0 < KB ? K - k0 : KB;
            const int acc = accumulate || k0 > 0;
            for (int o0 = 0; o0 < O; o0 += FWD_CHANNELS) {
                const float *wb = wpack + (long)(o0 / FWD_CHANNELS) * K * FWD_CHANNELS + k0 * FWD_CHANNELS;
                int cob = O - o0 < FWD_CHANNELS ? O - o0 : FWD_CHANNELS;
                float *o = out + o0 * ocs + q0;
                const float *i = in + q0;
                const long *p = pos + k0;
                switch (nv) {
                case 1: forward_tile_1(i, p, kc, wb, o, ocs, cob, mask, acc); break;
                case 2: forward_tile_2(i, p, kc, wb, o, ocs, cob, mask, acc); break;
                case 3: forward_tile_3(i, p, kc, wb, o, ocs, cob, mask, acc); break;
                case 4: forward_tile_4(i, p, kc, wb, o, ocs, cob, mask, acc); break;
                case 5: forward_tile_5(i, p, kc, wb, o, ocs, cob, mask, acc); break;
                default: forward_tile_6(i, p, kc, wb, o, ocs, cob, mask, acc); break;
                }
            }
        }
    }
    if (pos != pos_stack) free(pos);
}

// WG_OUT output channels x WG_TAPS (channel, tap) pairs, summed over nimg images and Q pixels.
// Rows past the end of a block point at a valid row and their sums are dropped. Named accumulators
// (not arrays) keep clang from shuffling them through the stack on every iteration.
#define WG_ROW(i, g)                                                                                     \
    a##i##0 = _mm512_fmadd_ps(g, x0, a##i##0); a##i##1 = _mm512_fmadd_ps(g, x1, a##i##1);                \
    a##i##2 = _mm512_fmadd_ps(g, x2, a##i##2); a##i##3 = _mm512_fmadd_ps(g, x3, a##i##3);                \
    a##i##4 = _mm512_fmadd_ps(g, x4, a##i##4);
#define WG_STEP(LOAD)                                                                                    \
    {                                                                                                    \
        __m512 x0 = LOAD(p0 + q), x1 = LOAD(p1 + q), x2 = LOAD(p2 + q), x3 = LOAD(p3 + q);               \
        __m512 x4 = LOAD(p4 + q);                                                                        \
        __m512 g0 = LOAD(r0 + q), g1 = LOAD(r1 + q), g2 = LOAD(r2 + q), g3 = LOAD(r3 + q);               \
        WG_ROW(0, g0) WG_ROW(1, g1) WG_ROW(2, g2) WG_ROW(3, g3)                                          \
    }
#define WG_FULL(p) _mm512_loadu_ps(p)
#define WG_TAIL(p) _mm512_maskz_loadu_ps(tail, p)
#define WG_ZERO4(i) a##i##0 = a##i##1 = a##i##2 = a##i##3 = a##i##4 = _mm512_setzero_ps();

AVX512 static void weight_grad_block(const float *const *x, const float *const *g, long iis, long gis,
                                     long Q, int nimg, float *const *dst, int nx, int ng) {
    __m512 a00, a01, a02, a03, a04, a10, a11, a12, a13, a14;
    __m512 a20, a21, a22, a23, a24, a30, a31, a32, a33, a34;
    WG_ZERO4(0) WG_ZERO4(1) WG_ZERO4(2) WG_ZERO4(3)
    const long full = Q & ~15L;
    const __mmask16 tail = lanes(Q - full);
    for (int img = 0; img < nimg; img++) {
        const float *p0 = x[0] + img * iis, *p1 = x[1] + img * iis, *p2 = x[2] + img * iis;
        const float *p3 = x[3] + img * iis, *p4 = x[4] + img * iis;
        const float *r0 = g[0] + img * gis, *r1 = g[1] + img * gis, *r2 = g[2] + img * gis;
        const float *r3 = g[3] + img * gis;
        long q = 0;
        for (; q < full; q += 16) WG_STEP(WG_FULL)
        if (q < Q) WG_STEP(WG_TAIL)
    }
    __m512 acc[WG_OUT][WG_TAPS] = {{a00, a01, a02, a03, a04}, {a10, a11, a12, a13, a14},
                                   {a20, a21, a22, a23, a24}, {a30, a31, a32, a33, a34}};
    for (int i = 0; i < ng; i++)
        for (int j = 0; j < nx; j++) dst[i * WG_TAPS + j][0] += _mm512_reduce_add_ps(acc[i][j]);
}

AVX512 static void weight_grad_avx512(const float *in, long iis, long ics, int C, int T, const long *off,
                                      const float *g, long gis, long gcs, int O, long Q, int nimg, float *dw) {
    const int pairs = C * T;
    for (int o0 = 0; o0 < O; o0 += WG_OUT) {
        int ng = O - o0 < WG_OUT ? O - o0 : WG_OUT;
        const float *gr[WG_OUT];
        for (int i = 0; i < WG_OUT; i++) gr[i] = g + (long)(o0 + (i < ng ? i : 0)) * gcs;
        for (int p0 = 0; p0 < pairs; p0 += WG_TAPS) {
            int nx = pairs - p0 < WG_TAPS ? pairs - p0 : WG_TAPS;
            const float *xr[WG_TAPS];
            float *dst[WG_OUT * WG_TAPS];
            for (int j = 0; j < WG_TAPS; j++) {
                int p = p0 + (j < nx ? j : 0);
                xr[j] = in + (long)(p / T) * ics + off[p % T];
            }
            for (int i = 0; i < WG_OUT; i++)
                for (int j = 0; j < WG_TAPS; j++)
                    dst[i * WG_TAPS + j] = dw + (long)(o0 + (i < ng ? i : 0)) * pairs + p0 + (j < nx ? j : 0);
            weight_grad_block(xr, gr, iis, gis, Q, nimg, dst, nx, ng);
        }
    }
}

// Layout moves between NCHW tensors and flat planes. Rows are short (7-30 floats), so these are
// plain loops the compiler vectorises, without per-row library calls.

// Plane columns jlo..<jhi of phase column offset b hold input columns (j*sw + b - pw in 0..<W).
static INLINE int phase_columns(int W, int pw, int b, int sw, int width, int *jlo, int *jhi) {
    if (W - 1 + pw - b < 0) return 0;
    *jlo = (pw - b + sw - 1) / sw;
    *jhi = (W - 1 + pw - b) / sw + 1;
    if (*jhi > width) *jhi = width;
    return *jlo < *jhi;
}

AVX512 static void pack_input_avx512(const float *x, int C, int H, int W, int sh, int sw, int ph, int pw,
                                     int rows, int width, float *dst, long imageFloats) {
    memset(dst, 0, sizeof(float) * (size_t)imageFloats);
    const long phase = (long)rows * width;
    for (int c = 0; c < C; c++) {
        const float *src = x + (long)c * H * W;
        for (int a = 0; a < sh; a++) {
            for (int b = 0; b < sw; b++) {
                float *plane = dst + ((long)c * sh * sw + a * sw + b) * phase;
                int jlo, jhi;
                if (!phase_columns(W, pw, b, sw, width, &jlo, &jhi)) continue;
                for (int i = 0; i < rows; i++) {
                    int y = i * sh + a - ph;
                    if (y < 0 || y >= H) continue;
                    float *d = plane + (long)i * width;
                    const float *row = src + (long)y * W + b - pw;
                    if (sw == 1) { for (int j = jlo; j < jhi; j++) d[j] = row[j]; }
                    else { for (int j = jlo; j < jhi; j++) d[j] = row[(long)j * sw]; }
                }
            }
        }
    }
}

AVX512 static void pack_gradient_avx512(const float *g, int O, int Ho, int Wo, int width, long lead, long stride,
                                        float *dst) {
    memset(dst, 0, sizeof(float) * (size_t)(O * stride));
    for (int o = 0; o < O; o++) {
        const float *s = g + (long)o * Ho * Wo;
        float *d = dst + o * stride + lead;
        for (int r = 0; r < Ho; r++) {
            const float *sr = s + (long)r * Wo;
            float *dr = d + (long)r * width;
            for (int j = 0; j < Wo; j++) dr[j] = sr[j];
        }
    }
}

AVX512 static void unpack_output_avx512(const float *ext, int O, int Ho, int Wo, int width, const float *scale,
                                        const float *shift, const float *residual, int relu, float *y) {
    for (int o = 0; o < O; o++) {
        const channel_epilogue e = epilogue_for(scale, shift, residual, relu, y, o);
        const float *s = ext + (long)o * Ho * width;
        float *d = y + (long)o * Ho * Wo;
        for (int r = 0; r < Ho; r++) {
            const float *sr = s + (long)r * width;
            float *dr = d + (long)r * Wo;
            for (int j = 0; j < Wo; j += 16) {
                __mmask16 m = lanes(Wo - j);
                store_output(e, dr + j, m, apply_affine(e, _mm512_maskz_loadu_ps(m, sr + j)));
            }
        }
    }
}

AVX512 static void channel_affine_avx512(float *y, int O, long plane, const float *scale, const float *shift,
                                         const float *residual, int relu) {
    for (int o = 0; o < O; o++) {
        const channel_epilogue e = epilogue_for(scale, shift, residual, relu, y, o);
        float *d = y + (long)o * plane;
        for (long j = 0; j < plane; j += 16) {
            __mmask16 m = lanes(plane - j);
            store_output(e, d + j, m, apply_affine(e, _mm512_maskz_loadu_ps(m, d + j)));
        }
    }
}

AVX512 static void scatter_phase_avx512(const float *dp, int C, int H, int W, int sh, int sw, int ph, int pw,
                                        int rows, int width, int phase, float *dx) {
    const int a = phase / sw, b = phase % sw;
    for (int c = 0; c < C; c++) {
        float *plane = dx + (long)c * H * W;
        const float *src = dp ? dp + (long)c * rows * width : NULL;
        int jlo, jhi;
        if (!phase_columns(W, pw, b, sw, width, &jlo, &jhi)) continue;
        for (int i = 0; i < rows; i++) {
            int y = i * sh + a - ph;
            if (y < 0 || y >= H) continue;
            float *d = plane + (long)y * W + b - pw;
            if (src == NULL) {
                for (int j = jlo; j < jhi; j++) d[(long)j * sw] = 0.0f;
            } else {
                const float *s = src + (long)i * width;
                if (sw == 1) { for (int j = jlo; j < jhi; j++) d[j] = s[j]; }
                else { for (int j = jlo; j < jhi; j++) d[(long)j * sw] = s[j]; }
            }
        }
    }
}

int engine_flat_conv_available(void) { return engine_cpu_has_avx512(); }

void engine_flat_conv_forward(const float *in, long ics, int C, int T, const long *off,
                              const float *wpack, int O, float *out, long ocs, long Q, int accumulate) {
    forward_avx512(in, ics, C, T, off, wpack, O, out, ocs, Q, accumulate);
}

void engine_flat_conv_weight_grad(const float *in, long iis, long ics, int C, int T, const long *off,
                                  const float *g, long gis, long gcs, int O, long Q, int nimg, float *dw) {
    weight_grad_avx512(in, iis, ics, C, T, off, g, gis, gcs, O, Q, nimg, dw);
}

void engine_flat_pack_input(const float *x, int C, int H, int W, int sh, int sw, int ph, int pw, int rows, int width,
                            float *dst, long imageFloats) {
    pack_input_avx512(x, C, H, W, sh, sw, ph, pw, rows, width, dst, imageFloats);
}

void engine_flat_pack_gradient(const float *g, int O, int Ho, int Wo, int width, long lead, long stride, float *dst) {
    pack_gradient_avx512(g, O, Ho, Wo, width, lead, stride, dst);
}

void engine_flat_unpack_output(const float *ext, int O, int Ho, int Wo, int width, const float *scale,
                               const float *shift, const float *residual, int relu, float *y) {
    unpack_output_avx512(ext, O, Ho, Wo, width, scale, shift, residual, relu, y);
}

void engine_channel_affine(float *y, int O, long plane, const float *scale, const float *shift,
                           const float *residual, int relu) {
    if (engine_cpu_has_avx512()) channel_affine_avx512(y, O, plane, scale, shift, residual, relu);
    else channel_affine_scalar(y, O, plane, scale, shift, residual, relu);
}

void engine_flat_scatter_phase(const float *dp, int C, int H, int W, int sh, int sw, int ph, int pw, int rows,
                               int width, int phase, float *dx) {
    scatter_phase_avx512(dp, C, H, W, sh, sw, ph, pw, rows, width, phase, dx);
}

#else

int engine_flat_conv_available(void) { return 0; }

void engine_flat_conv_forward(const float *in, long ics, int C, int T, const long *off,
                              const float *wpack, int O, float *out, long ocs, long Q, int accumulate) {
    (void)in; (void)ics; (void)C; (void)T; (void)off; (void)wpack; (void)O; (void)out; (void)ocs; (void)Q;
    (void)accumulate;
}

void engine_flat_conv_weight_grad(const float *in, long iis, long ics, int C, int T, const long *off,
                                  const float *g, long gis, long gcs, int O, long Q, int nimg, float *dw) {
    (void)in; (void)iis; (void)ics; (void)C; (void)T; (void)off; (void)g; (void)gis; (void)gcs; (void)O;
    (void)Q; (void)nimg; (void)dw;
}

void engine_flat_pack_input(const float *x, int C, int H, int W, int sh, int sw, int ph, int pw, int rows, int width,
                            float *dst, long imageFloats) {
    (void)x; (void)C; (void)H; (void)W; (void)sh; (void)sw; (void)ph; (void)pw; (void)rows; (void)width; (void)dst;
    (void)imageFloats;
}

void engine_flat_pack_gradient(const float *g, int O, int Ho, int Wo, int width, long lead, long stride, float *dst) {
    (void)g; (void)O; (void)Ho; (void)Wo; (void)width; (void)lead; (void)stride; (void)dst;
}

void engine_flat_unpack_output(const float *ext, int O, int Ho, int Wo, int width, const float *scale,
                               const float *shift, const float *residual, int relu, float *y) {
    (void)ext; (void)O; (void)Ho; (void)Wo; (void)width; (void)scale; (void)shift; (void)residual; (void)relu;
    (void)y;
}

void engine_channel_affine(float *y, int O, long plane, const float *scale, const float *shift,
                           const float *residual, int relu) {
    channel_affine_scalar(y, O, plane, scale, shift, residual, relu);
}

void engine_flat_scatter_phase(const float *dp, int C, int H, int W, int sh, int sw, int ph, int pw, int rows,
                               int width, int phase, float *dx) {
    (void)dp; (void)C; (void)H; (void)W; (void)sh; (void)sw; (void)ph; (void)pw; (void)rows; (void)width;
    (void)phase; (void)dx;
}

#endif
