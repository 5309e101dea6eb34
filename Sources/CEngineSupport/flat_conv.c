// AVX-512 kernels for convolutions over "flat" planes (the lowering lives in
// Torch/DirectConvolution.swift). A padded input plane is stored row after row; an output pixel
// q = oh * rowWidth + ow then reads tap t at q + offset[t], so a whole convolution is a sum of
// shifted plane copies weighted per channel pair. No im2col matrix is built: sixteen neighbouring
// output pixels are one vector load per tap, which keeps small-channel layers compute-bound.
#include "CEngineSupport.h"
#include "avx512.h"
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
            d[j] = relu && !(v > 0) ? 0 : v;  // NaN to 0, as relu_ps
        }
    }
}

#if defined(__x86_64__)
enum { FWD_VECTORS = 6, FWD_CHANNELS = 4, WG_OUT = 4, WG_TAPS = 5 };
// Vectors per row up to which the packing loops work out each row's lane masks once per layer
// (wider rows take the general loops).
enum { ROW_MASKS = 64 };


// One tile: four output channels x NV vectors of 16 output pixels. `pos[k]` is where the k-th
// (channel, tap) pair reads; one flat loop over the pairs keeps all accumulators in registers.
// LANE 1: weights packed [K][4] from `wb` (`wpos` unused). LANE 4: the four outputs' weights of pair
// k are wb[wpos[k] + 4j], j < 4, as in a Winograd matrix of the transposed convolution (see
// engine_flat_conv_forward_transposed). MASKED 1 masks the span's last vector, the only one that
// can be partial; every other load and store is plain (masked loads cost about 15% of the tile's
// speed, measured in L1: 114 vs 131 GFLOP/s on one thread, where the FMA limit is 147).
#define DEFINE_FORWARD_TILE(NV, LANE, MASKED)                                                            \
    AVX512 static void forward_tile_##NV##_##LANE##_##MASKED(const float *in, const long *pos, long K,      \
                                                  const float *wb,                                         \
                                                  const long *wpos, float *out, long ocs, int cob,         \
                                                  const __mmask16 *mask, int accumulate) {                 \
        __m512 a0[NV], a1[NV], a2[NV], a3[NV];                                                           \
        for (int v = 0; v < NV; v++) a0[v] = a1[v] = a2[v] = a3[v] = _mm512_setzero_ps();                \
        __mmask16 m[NV];                                                                                 \
        for (int v = 0; v < NV; v++) m[v] = mask[v];                                                     \
        for (long k = 0; k < K; k++) {                                                                   \
            const float *p = in + pos[k];                                                                \
            const float *w = LANE == 1 ? wb + FWD_CHANNELS * k : wb + wpos[k];                           \
            __m512 w0 = _mm512_set1_ps(w[0]), w1 = _mm512_set1_ps(w[LANE]);                              \
            __m512 w2 = _mm512_set1_ps(w[2 * LANE]), w3 = _mm512_set1_ps(w[3 * LANE]);                   \
            for (int v = 0; v < NV; v++) {                                                               \
                __m512 x = MASKED && v == NV - 1 ? _mm512_maskz_loadu_ps(m[v], p + 16 * v)               \
                                                 : _mm512_loadu_ps(p + 16 * v);                          \
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
                if (MASKED && v == NV - 1) {                                                             \
                    if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m[v], o + 16 * v));       \
                    _mm512_mask_storeu_ps(o + 16 * v, m[v], r);                                          \
                } else {                                                                                 \
                    if (accumulate) r = _mm512_add_ps(r, _mm512_loadu_ps(o + 16 * v));                   \
                    _mm512_storeu_ps(o + 16 * v, r);                                                     \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    }

#define DEFINE_FORWARD_TILES(LANE, MASKED)                                                               \
    DEFINE_FORWARD_TILE(1, LANE, MASKED) DEFINE_FORWARD_TILE(2, LANE, MASKED)                            \
    DEFINE_FORWARD_TILE(3, LANE, MASKED) DEFINE_FORWARD_TILE(4, LANE, MASKED)                            \
    DEFINE_FORWARD_TILE(5, LANE, MASKED) DEFINE_FORWARD_TILE(6, LANE, MASKED)
DEFINE_FORWARD_TILES(1, 0)
DEFINE_FORWARD_TILES(1, 1)
DEFINE_FORWARD_TILES(4, 0)
DEFINE_FORWARD_TILES(4, 1)

typedef void (*forward_tile)(const float *, const long *, long, const float *, const long *, float *, long, int,
                             const __mmask16 *, int);
#define FORWARD_TILE_ROW(LANE, MASKED)                                                                   \
    {forward_tile_1_##LANE##_##MASKED, forward_tile_2_##LANE##_##MASKED, forward_tile_3_##LANE##_##MASKED,   \
     forward_tile_4_##LANE##_##MASKED, forward_tile_5_##LANE##_##MASKED, forward_tile_6_##LANE##_##MASKED}
// [weights in LANE 4][span ends inside a vector][vectors - 1]
static const forward_tile forward_tiles[2][2][FWD_VECTORS] = {
    {FORWARD_TILE_ROW(1, 0), FORWARD_TILE_ROW(1, 1)},
    {FORWARD_TILE_ROW(4, 0), FORWARD_TILE_ROW(4, 1)},
};

// Pairs per pass over a span: the span's input rows for 64 pairs (at most 64 x 96 floats, 24 KB)
// stay in L1 while every block of output channels reads them. With all of K at once, wide layers
// (K = 256-2304) streamed their input from L2 once per block of four outputs (measured, ResNet-18
// forward: layer3 3x3 8.3 -> 7.2 ms, layer2 3x3/2 7.5 -> 6.4 ms; 32 and 128 were slower than 64).
enum { FWD_K_BLOCK = 64 };

// `rowFloats` 0: `wpack` is [(O+3)/4][K][4]. Otherwise T is 1 and `wpack` is a matrix
// [(K+3)/4][rowFloats / 4][4] of the transposed problem: the weight of output o and channel k is
// wpack[((k/4)*(rowFloats/4) + o)*4 + k%4].
AVX512 static void forward_avx512(const float *in, long ics, int C, int T, const long *off,
                                  const float *wpack, long rowFloats, int O, float *out, long ocs, long Q,
                                  int accumulate) {
    const long K = (long)C * T, KB = FWD_K_BLOCK;
    long stack[2048];
    long *pos = K <= 1024 ? stack : (long *)malloc(sizeof(long) * 2 * (size_t)K);
    if (pos == NULL) return;
    long *wpos = pos + K;
    for (long k = 0; k < K; k++) pos[k] = (k / T) * ics + off[k % T];
    if (rowFloats) for (long k = 0; k < K; k++) wpos[k] = (k / 4) * rowFloats + k % 4;
    const forward_tile(*tiles)[FWD_VECTORS] = forward_tiles[rowFloats ? 1 : 0];
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
                const float *wb = rowFloats ? wpack + (long)o0 * 4
                                            : wpack + (long)(o0 / FWD_CHANNELS) * K * FWD_CHANNELS + k0 * FWD_CHANNELS;
                int cob = O - o0 < FWD_CHANNELS ? O - o0 : FWD_CHANNELS;
                tiles[rem < 16L * nv][nv - 1](in + q0, pos + k0, kc, wb, wpos + k0, out + o0 * ocs + q0, ocs, cob,
                                               mask, acc);
            }
        }
    }
    if (pos != stack) free(pos);
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

// Weight gradient of a nine-tap (3x3) kernel as a sum of outer products: at each output pixel,
// the gradients of 16 output channels (one vector of dY transposed to [pixel][16]) times the nine
// input values the taps read (scalar broadcasts straight from the flat planes). The accumulators
// are dW itself, 16 outputs x 9 taps per channel, so nothing is reduced across vector lanes, and
// only true output pixels are visited (the planes' padding columns cost nothing). Measured against
// `weight_grad_avx512` on one thread: 1.6-2.4x faster for the small ResNet's 16-64 channel layers,
// and on both cores at once as long as each thread's group of images stays in its own L2 (see
// DirectConvolution.swift). Named accumulators keep clang from spilling them on every pixel.
#define T9_FMA(acc, s, v) acc = _mm512_fmadd_ps(_mm512_set1_ps(s), v, acc);
#define T9_TAPS(P, v, A)                                                                                 \
    T9_FMA(A##0, P[o0], v) T9_FMA(A##1, P[o1], v) T9_FMA(A##2, P[o2], v) T9_FMA(A##3, P[o3], v)           \
    T9_FMA(A##4, P[o4], v) T9_FMA(A##5, P[o5], v) T9_FMA(A##6, P[o6], v) T9_FMA(A##7, P[o7], v)           \
    T9_FMA(A##8, P[o8], v)
#define T9_ZERO(A)                                                                                       \
    __m512 A##0 = _mm512_setzero_ps(), A##1 = A##0, A##2 = A##0, A##3 = A##0, A##4 = A##0, A##5 = A##0,   \
           A##6 = A##0, A##7 = A##0, A##8 = A##0;
// Accumulators go to dwv [(O+15)/16][C][9][16] as whole vectors; `weight_grad9_finish` moves
// them to dW's layout once per batch (adding each lane into dW directly cost 13% of a 64-channel
// 7x7 call once groups of images were made small enough to stay in L2).
#define T9_STORE(A, ob, c)                                                                               \
    {                                                                                                    \
        float *v_ = dwv + ((long)(ob) * pairs + (long)(c) * 9) * 16;                                      \
        const __m512 taps_[9] = {A##0, A##1, A##2, A##3, A##4, A##5, A##6, A##7, A##8};                   \
        for (int t = 0; t < 9; t++)                                                                      \
            _mm512_storeu_ps(v_ + 16 * t, _mm512_add_ps(_mm512_loadu_ps(v_ + 16 * t), taps_[t]));         \
    }

// The loop over images and true output pixels shared by both blocks below; X0..X2 point at the
// pixel in the block's channels, g at its dY vector(s).
#define T9_PIXELS(BODY)                                                                                  \
    const long o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];              \
    const long o6 = off[6], o7 = off[7], o8 = off[8];                                                     \
    for (int img = 0; img < nimg; img++) {                                                               \
        const float *g = gt + img * gti;                                                                 \
        const float *r0 = in + img * iis, *r1 = r0 + (nc > 1 ? ics : 0), *r2 = r0 + (nc > 2 ? 2 * ics : 0); \
        for (int oh = 0; oh < Ho; oh++, r0 += width, r1 += width, r2 += width)                           \
            for (int ow = 0; ow < Wo; ow++, g += 16) {                                                   \
                const float *X0 = r0 + ow, *X1 = r1 + ow, *X2 = r2 + ow;                                  \
                BODY                                                                                     \
            }                                                                                            \
    }

// Output blocks ob and ob + 1 (32 outputs) x channel c: two dY vectors share each broadcast,
// 11 loads per 18 FMAs.
AVX512 static void t9_two_output_blocks(const float *in, long iis, long ics, const long *off, long width,
                                        const float *gt, long gti, long gto, int Ho, int Wo, int nimg, float *dwv,
                                        long pairs, int ob, int c) {
    const int nc = 1;
    T9_ZERO(a) T9_ZERO(b)
    T9_PIXELS(__m512 v = _mm512_loadu_ps(g); __m512 u = _mm512_loadu_ps(g + gto);
              (void)X1; (void)X2; T9_TAPS(X0, v, a) T9_TAPS(X0, u, b))
    T9_STORE(a, ob, c)
    T9_STORE(b, ob + 1, c)
}

// Output block ob (16 outputs) x channel c, for a last single block whose taps are not a plain
// 3x3 grid: 10 loads per 9 FMAs.
AVX512 static void t9_one_block(const float *in, long iis, long ics, const long *off, long width, const float *gt,
                                long gti, int Ho, int Wo, int nimg, float *dwv, long pairs, int ob, int c) {
    const int nc = 1;
    T9_ZERO(a)
    T9_PIXELS(__m512 v = _mm512_loadu_ps(g); (void)X1; (void)X2; T9_TAPS(X0, v, a))
    T9_STORE(a, ob, c)
}

// Output block ob (16 outputs) x channels c ..< c + nc (nc <= 3) for taps on the plain grid
// off[t] = (t / 3) * width + t % 3 (stride 1, no dilation). Two neighbouring pixels share the
// middle two of the four values a kernel row reads, so 27 accumulators take 54 FMAs per 38 loads
// (one pixel at a time it was 27 per 28, and the load ports were the limit). The grid also makes
// every tap a constant displacement from one pointer per channel.
#define T9_ROW_PAIR(P, v, u, A0, A1, A2)                                                                 \
    {                                                                                                    \
        const __m512 x0 = _mm512_set1_ps((P)[0]), x1 = _mm512_set1_ps((P)[1]);                           \
        A0 = _mm512_fmadd_ps(x0, v, A0); A0 = _mm512_fmadd_ps(x1, u, A0);                                  \
        const __m512 x2 = _mm512_set1_ps((P)[2]);                                                        \
        A1 = _mm512_fmadd_ps(x1, v, A1); A1 = _mm512_fmadd_ps(x2, u, A1);                                  \
        const __m512 x3 = _mm512_set1_ps((P)[3]);                                                        \
        A2 = _mm512_fmadd_ps(x2, v, A2); A2 = _mm512_fmadd_ps(x3, u, A2);                                  \
    }
#define T9_GRID_PAIR(P, v, u, A)                                                                         \
    T9_ROW_PAIR(P, v, u, A##0, A##1, A##2) T9_ROW_PAIR(P + w, v, u, A##3, A##4, A##5)                      \
    T9_ROW_PAIR(P + w2, v, u, A##6, A##7, A##8)
AVX512 static void t9_three_channels(const float *in, long iis, long ics, long width, const float *gt, long gti,
                                     int Ho, int Wo, int nimg, float *dwv, long pairs, int ob, int c, int nc) {
    const long w = width, w2 = 2 * width;
    // The grid's offsets, for T9_TAPS on an odd last pixel.
    const long o0 = 0, o1 = 1, o2 = 2, o3 = w, o4 = w + 1, o5 = w + 2, o6 = w2, o7 = w2 + 1, o8 = w2 + 2;
    T9_ZERO(a) T9_ZERO(b) T9_ZERO(d)
    for (int img = 0; img < nimg; img++) {
        const float *g = gt + img * gti;
        const float *r0 = in + img * iis, *r1 = r0 + (nc > 1 ? ics : 0), *r2 = r0 + (nc > 2 ? 2 * ics : 0);
        for (int oh = 0; oh < Ho; oh++, r0 += width, r1 += width, r2 += width) {
            int ow = 0;
            for (; ow + 2 <= Wo; ow += 2, g += 32) {
                const float *X0 = r0 + ow, *X1 = r1 + ow, *X2 = r2 + ow;
                const __m512 v = _mm512_loadu_ps(g), u = _mm512_loadu_ps(g + 16);
                T9_GRID_PAIR(X0, v, u, a) T9_GRID_PAIR(X1, v, u, b) T9_GRID_PAIR(X2, v, u, d)
            }
            if (ow < Wo) {
                const float *X0 = r0 + ow, *X1 = r1 + ow, *X2 = r2 + ow;
                const __m512 v = _mm512_loadu_ps(g);
                T9_TAPS(X0, v, a) T9_TAPS(X1, v, b) T9_TAPS(X2, v, d)
                g += 16;
            }
        }
    }
    T9_STORE(a, ob, c)
    if (nc > 1) T9_STORE(b, ob, c + 1)
    if (nc > 2) T9_STORE(d, ob, c + 2)
}

AVX512 static void weight_grad9_avx512(const float *in, long iis, long ics, int C, const long *off, long width,
                                       const float *gt, long gti, int O, int Ho, int Wo, int nimg, float *dwv) {
    const long pairs = (long)C * 9, gto = (long)Ho * Wo * 16;
    const int blocks = (O + 15) / 16;
    int grid = 1;
    for (int t = 0; t < 9; t++) grid &= off[t] == (t / 3) * width + t % 3;
    int ob = 0;
    for (; ob + 2 <= blocks; ob += 2)
        for (int c = 0; c < C; c++)
            t9_two_output_blocks(in + (long)c * ics, iis, ics, off, width, gt + ob * gto, gti, gto, Ho, Wo, nimg,
                                 dwv, pairs, ob, c);
    if (ob == blocks) return;
    if (grid) {
        for (int c = 0; c < C; c += 3)
            t9_three_channels(in + (long)c * ics, iis, ics, width, gt + ob * gto, gti, Ho, Wo, nimg, dwv, pairs, ob,
                              c, C - c < 3 ? C - c : 3);
    } else {
        for (int c = 0; c < C; c++)
            t9_one_block(in + (long)c * ics, iis, ics, off, width, gt + ob * gto, gti, Ho, Wo, nimg, dwv, pairs, ob,
                         c);
    }
}

static void weight_grad9_finish(const float *dwv, int O, int C, float *dw) {
    const long pairs = (long)C * 9;
    for (int o = 0; o < O; o++) {
        const float *v = dwv + (long)(o / 16) * pairs * 16 + o % 16;
        float *d = dw + (long)o * pairs;
        for (long p = 0; p < pairs; p++) d[p] += v[p * 16];
    }
}

// r[i][j] <-> r[j][i] for a 16 x 16 block held in 16 vectors.
AVX512 static INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

// dY [O][P] as [(O+15)/16][P][16], outputs past O zero: 16 x 16 blocks transposed in registers.
AVX512 static void pack_gradient_outputs_avx512(const float *g, int O, long P, float *dst) {
    const int blocks = (O + 15) / 16;
    for (int ob = 0; ob < blocks; ob++) {
        float *d = dst + (long)ob * P * 16;
        const int outputs = O - ob * 16 < 16 ? O - ob * 16 : 16;
        for (long p = 0; p < P; p += 16) {
            const __mmask16 m = lanes(P - p);
            __m512 r[16];
            // Sixteen rows are read side by side, more streams than the hardware prefetcher follows.
            if (p + 64 < P)
                for (int l = 0; l < outputs; l++) _mm_prefetch((const char *)(g + (long)(ob * 16 + l) * P + p + 64), _MM_HINT_T0);
            for (int l = 0; l < 16; l++)
                r[l] = l < outputs ? _mm512_maskz_loadu_ps(m, g + (long)(ob * 16 + l) * P + p) : _mm512_setzero_ps();
            transpose16(r);
            const long count = P - p < 16 ? P - p : 16;
            for (long k = 0; k < count; k++) _mm512_storeu_ps(d + (p + k) * 16, r[k]);
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

AVX512 static void pack_input_general(const float *x, int C, int H, int W, int sh, int sw, int ph, int pw,
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

// Stride 2 in both directions: each input row is split into its even and odd padded columns with
// two permutes, so the row is read once for both column phases (the general loop above reads it
// once per phase, one float at a time). Every row of both column phases is written whole, padding
// columns included, so only the padding rows and the slack past the planes are zeroed first.
AVX512 static void pack_input_stride2(const float *x, int C, int H, int W, int ph, int pw, int rows, int width,
                                      float *dst, long imageFloats) {
    const long phase = (long)rows * width, planes = 4L * C * phase, vectors = (width + 15) / 16;
    if (vectors > ROW_MASKS) {
        pack_input_general(x, C, H, W, 2, 2, ph, pw, rows, width, dst, imageFloats);
        return;
    }
    // Every row has the same masks: padded column 2j + b is input column 2j + b - pw, so plane
    // vector v reads padded columns 32v ..< 32v + 32.
    __mmask16 low[ROW_MASKS], high[ROW_MASKS], store[ROW_MASKS];
    for (long v = 0; v < vectors; v++) {
        const long s = 32 * v - pw;
        low[v] = lane_range(-s, W - s);
        high[v] = lane_range(-s - 16, W - s - 16);
        store[v] = lanes(width - 16 * v);
    }
    memset(dst + planes, 0, sizeof(float) * (size_t)(imageFloats - planes));
    const __m512i even = index_even(), odd = index_odd();
    for (int c = 0; c < C; c++) {
        const float *src = x + (long)c * H * W;
        for (int yp = 0; yp < 2 * rows; yp++) {  // padded row yp: phase row a = yp % 2, row i = yp / 2
            const int y = yp - ph;
            float *d0 = dst + ((long)c * 4 + (yp & 1) * 2) * phase + (long)(yp >> 1) * width, *d1 = d0 + phase;
            if (y < 0 || y >= H) {
                memset(d0, 0, sizeof(float) * (size_t)width);
                memset(d1, 0, sizeof(float) * (size_t)width);
                continue;
            }
            const float *row = src + (long)y * W - pw;
            for (long v = 0; v < vectors; v++) {
                const __m512 lo = _mm512_maskz_loadu_ps(low[v], row + 32 * v);
                const __m512 hi = _mm512_maskz_loadu_ps(high[v], row + 32 * v + 16);
                _mm512_mask_storeu_ps(d0 + 16 * v, store[v], _mm512_permutex2var_ps(lo, even, hi));
                _mm512_mask_storeu_ps(d1 + 16 * v, store[v], _mm512_permutex2var_ps(lo, odd, hi));
            }
        }
    }
}

// Stride 1: each plane row is written whole, padding columns included, from one masked load per
// vector (lanes outside the input row read nothing and come out zero), so only padding rows and
// the slack past the planes are zeroed. The general loop above zeroes every plane first and then
// copies the rows float by float.
AVX512 static void pack_input_stride1(const float *x, int C, int H, int W, int ph, int pw, int rows, int width,
                                      float *dst, long imageFloats) {
    const long phase = (long)rows * width, planes = (long)C * phase, vectors = (width + 15) / 16;
    if (vectors > ROW_MASKS) {
        pack_input_general(x, C, H, W, 1, 1, ph, pw, rows, width, dst, imageFloats);
        return;
    }
    // Every row has the same masks (plane column j holds input column j - pw).
    __mmask16 load[ROW_MASKS], store[ROW_MASKS];
    for (long v = 0; v < vectors; v++) {
        load[v] = lane_range(pw - 16 * v, W + pw - 16 * v);
        store[v] = lanes(width - 16 * v);
    }
    memset(dst + planes, 0, sizeof(float) * (size_t)(imageFloats - planes));
    for (int c = 0; c < C; c++) {
        const float *src = x + (long)c * H * W - pw;
        float *plane = dst + (long)c * phase;
        for (int i = 0; i < rows; i++) {
            const int y = i - ph;
            float *d = plane + (long)i * width;
            if (y < 0 || y >= H) {
                memset(d, 0, sizeof(float) * (size_t)width);
                continue;
            }
            const float *row = src + (long)y * W;
            for (long v = 0; v < vectors; v++)
                _mm512_mask_storeu_ps(d + 16 * v, store[v], _mm512_maskz_loadu_ps(load[v], row + 16 * v));
        }
    }
}

AVX512 static void pack_input_avx512(const float *x, int C, int H, int W, int sh, int sw, int ph, int pw,
                                     int rows, int width, float *dst, long imageFloats) {
    if (sh == 2 && sw == 2) pack_input_stride2(x, C, H, W, ph, pw, rows, width, dst, imageFloats);
    else if (sh == 1 && sw == 1) pack_input_stride1(x, C, H, W, ph, pw, rows, width, dst, imageFloats);
    else pack_input_general(x, C, H, W, sh, sw, ph, pw, rows, width, dst, imageFloats);
}

// Rows are written whole (dY then zeros up to the width), so only each channel's lead and the
// floats after its last row are zeroed (the caller's stride leaves room past lead + Ho * width).
AVX512 static void pack_gradient_avx512(const float *g, int O, int Ho, int Wo, int width, long lead, long stride,
                                        float *dst) {
    const long end = lead + (long)Ho * width, vectors = (width + 15) / 16;
    __mmask16 load[ROW_MASKS], store[ROW_MASKS];
    for (long v = 0; v < vectors && v < ROW_MASKS; v++) {
        load[v] = lanes(Wo - 16 * v);
        store[v] = lanes(width - 16 * v);
    }
    for (int o = 0; o < O; o++) {
        const float *s = g + (long)o * Ho * Wo;
        float *c = dst + o * stride;
        memset(c, 0, sizeof(float) * (size_t)lead);
        for (int r = 0; r < Ho; r++) {
            const float *sr = s + (long)r * Wo;
            float *dr = c + lead + (long)r * width;
            if (vectors > ROW_MASKS) {
                for (long j = 0; j < width; j++) dr[j] = j < Wo ? sr[j] : 0.0f;
                continue;
            }
            for (long v = 0; v < vectors; v++)
                _mm512_mask_storeu_ps(dr + 16 * v, store[v], _mm512_maskz_loadu_ps(load[v], sr + 16 * v));
        }
        memset(c + end, 0, sizeof(float) * (size_t)(stride - end));
    }
}

AVX512 static void unpack_output_avx512(const float *ext, int O, int Ho, int Wo, int width, const float *scale,
                                        const float *shift, const float *residual, int relu, float *y) {
    const __mmask16 tail = lanes(Wo % 16);
    for (int o = 0; o < O; o++) {
        const channel_epilogue e = epilogue_for(scale, shift, residual, relu, y, o);
        const float *s = ext + (long)o * Ho * width;
        float *d = y + (long)o * Ho * Wo;
        for (int r = 0; r < Ho; r++) {
            const float *sr = s + (long)r * width;
            float *dr = d + (long)r * Wo;
            int j = 0;
            for (; j + 16 <= Wo; j += 16) store_output(e, dr + j, 0xffff, apply_affine(e, _mm512_loadu_ps(sr + j)));
            if (j < Wo) store_output(e, dr + j, tail, apply_affine(e, _mm512_maskz_loadu_ps(tail, sr + j)));
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

// The rows of dx [C, H, W] in row phase `a` (rows y with (y + ph) % sh == a) from that phase's sw
// planes of the padded input gradient (column phase b at dp + b * phaseStride, each
// [C][rows][width]): the sw column phases side by side, interleaved by two permutes for stride 2.
// Each line of dx is written once, whole (phase by phase, stride-2 rows took a scalar store per
// value and every line twice). One row phase at a time keeps the planes in L2 (all four of
// ResNet-18's 64-channel 56x56 layer are 861 KB).
AVX512 static void scatter_phases_avx512(const float *dp, long phaseStride, int C, int H, int W, int sh, int sw,
                                         int ph, int pw, int rows, int width, int a, float *dx) {
    const __m512i low = index_interleave_lo(), high = index_interleave_hi();
    const long plane = (long)rows * width;
    // The first row of phase a: y + ph = a (mod sh), y >= 0.
    const int first = ((a - ph) % sh + sh) % sh;
    for (int c = 0; c < C; c++) {
        for (int y = first; y < H; y += sh) {
            const float *row = dp + c * plane + (long)((y + ph) / sh) * width;
            float *d = dx + ((long)c * H + y) * W;
            if (sw == 1) {
                for (long x = 0; x < W; x += 16)
                    _mm512_mask_storeu_ps(d + x, lanes(W - x), _mm512_maskz_loadu_ps(lanes(W - x), row + x + pw));
            } else if (sw == 2) {
                // Column x of dx is column (x + pw) / 2 of phase (x + pw) % 2.
                for (long j = 0; 2 * j - pw < W; j += 16) {
                    const __mmask16 m = lanes(width - j);
                    const __m512 even = _mm512_maskz_loadu_ps(m, row + j);
                    const __m512 odd = _mm512_maskz_loadu_ps(m, row + phaseStride + j);
                    const long x = 2 * j - pw;
                    _mm512_mask_storeu_ps(d + x, lane_range(-x, W - x), _mm512_permutex2var_ps(even, low, odd));
                    _mm512_mask_storeu_ps(d + x + 16, lane_range(-x - 16, W - x - 16),
                                          _mm512_permutex2var_ps(even, high, odd));
                }
            } else {
                for (int x = 0; x < W; x++) d[x] = row[(long)((x + pw) % sw) * phaseStride + (x + pw) / sw];
            }
        }
    }
}

// A strided 1x1 convolution without padding reads every sh-th row and sw-th column only: its
// plane is one image's input as [C][Ho][Wo] holding just those pixels (the phase planes would be
// sh*sw times larger, all but one unread). Rows of stride 2 are split with one permute.
AVX512 static void pack_subsampled_avx512(const float *x, int C, int H, int W, int sh, int sw, int Ho, int Wo,
                                          float *dst) {
    const __m512i even = index_even();
    for (int c = 0; c < C; c++) {
        const float *src = x + (long)c * H * W;
        float *d = dst + (long)c * Ho * Wo;
        for (int i = 0; i < Ho; i++, d += Wo) {
            const float *row = src + (long)i * sh * W;
            if (sw != 2) {
                for (int j = 0; j < Wo; j++) d[j] = row[(long)j * sw];
                continue;
            }
            for (int j = 0; j < Wo; j += 16) {
                const long s = 2L * j;
                const __m512 a = _mm512_maskz_loadu_ps(lanes(W - s), row + s);
                const __m512 b = _mm512_maskz_loadu_ps(lanes(W - s - 16), row + s + 16);
                _mm512_mask_storeu_ps(d + j, lanes(Wo - j), _mm512_permutex2var_ps(a, even, b));
            }
        }
    }
}

// Its input gradient: dp [C][Ho][Wo] back to the pixels it read in dx [C, H, W], zeros elsewhere
// (stride-2 rows interleaved with zeros by two permutes).
AVX512 static void scatter_subsampled_avx512(const float *dp, int C, int H, int W, int sh, int sw, int Ho, int Wo,
                                             float *dx) {
    const __m512i low = index_interleave_lo(), high = index_interleave_hi();
    const __m512 zero = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < H; y++) {
            float *d = dx + ((long)c * H + y) * W;
            if (y % sh != 0) {
                memset(d, 0, sizeof(float) * (size_t)W);
                continue;
            }
            const float *s = dp + ((long)c * Ho + y / sh) * Wo;
            if (sw != 2) {
                memset(d, 0, sizeof(float) * (size_t)W);
                for (int j = 0; j < Wo; j++) d[(long)j * sw] = s[j];
                continue;
            }
            for (int j = 0; j < Wo; j += 16) {
                const __m512 v = _mm512_maskz_loadu_ps(lanes(Wo - j), s + j);
                const long t = 2L * j;
                _mm512_mask_storeu_ps(d + t, lanes(W - t), _mm512_permutex2var_ps(v, low, zero));
                _mm512_mask_storeu_ps(d + t + 16, lanes(W - t - 16), _mm512_permutex2var_ps(v, high, zero));
            }
        }
    }
}

int engine_flat_conv_available(void) { return engine_cpu_has_avx512(); }

void engine_flat_conv_forward(const float *in, long ics, int C, int T, const long *off,
                              const float *wpack, int O, float *out, long ocs, long Q, int accumulate) {
    forward_avx512(in, ics, C, T, off, wpack, 0, O, out, ocs, Q, accumulate);
}

void engine_flat_conv_forward_transposed(const float *in, long ics, int C, const float *u, int O, float *out,
                                         long ocs, long Q) {
    const long zero = 0;
    forward_avx512(in, ics, C, 1, &zero, u, 4L * O, O, out, ocs, Q, 0);
}

void engine_flat_conv_weight_grad(const float *in, long iis, long ics, int C, int T, const long *off,
                                  const float *g, long gis, long gcs, int O, long Q, int nimg, float *dw) {
    weight_grad_avx512(in, iis, ics, C, T, off, g, gis, gcs, O, Q, nimg, dw);
}

void engine_flat_conv_weight_grad9(const float *in, long iis, long ics, int C, const long *off, long width,
                                   const float *gt, long gti, int O, int Ho, int Wo, int nimg, float *dwv) {
    weight_grad9_avx512(in, iis, ics, C, off, width, gt, gti, O, Ho, Wo, nimg, dwv);
}

void engine_flat_conv_weight_grad9_finish(const float *dwv, int O, int C, float *dw) {
    weight_grad9_finish(dwv, O, C, dw);
}

void engine_flat_pack_gradient_outputs(const float *g, int O, long P, float *dst) {
    pack_gradient_outputs_avx512(g, O, P, dst);
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

void engine_flat_scatter_phases(const float *dp, long phaseStride, int C, int H, int W, int sh, int sw, int ph,
                                int pw, int rows, int width, int rowPhase, float *dx) {
    scatter_phases_avx512(dp, phaseStride, C, H, W, sh, sw, ph, pw, rows, width, rowPhase, dx);
}

void engine_flat_pack_subsampled(const float *x, int C, int H, int W, int sh, int sw, int Ho, int Wo, float *dst) {
    pack_subsampled_avx512(x, C, H, W, sh, sw, Ho, Wo, dst);
}

void engine_flat_scatter_subsampled(const float *dp, int C, int H, int W, int sh, int sw, int Ho, int Wo,
                                    float *dx) {
    scatter_subsampled_avx512(dp, C, H, W, sh, sw, Ho, Wo, dx);
}

#else

int engine_flat_conv_available(void) { return 0; }

void engine_flat_conv_forward(const float *in, long ics, int C, int T, const long *off,
                              const float *wpack, int O, float *out, long ocs, long Q, int accumulate) {
    (void)in; (void)ics; (void)C; (void)T; (void)off; (void)wpack; (void)O; (void)out; (void)ocs; (void)Q;
    (void)accumulate;
}

void engine_flat_conv_forward_transposed(const float *in, long ics, int C, const float *u, int O, float *out,
                                         long ocs, long Q) {
    (void)in; (void)ics; (void)C; (void)u; (void)O; (void)out; (void)ocs; (void)Q;
}

void engine_flat_conv_weight_grad(const float *in, long iis, long ics, int C, int T, const long *off,
                                  const float *g, long gis, long gcs, int O, long Q, int nimg, float *dw) {
    (void)in; (void)iis; (void)ics; (void)C; (void)T; (void)off; (void)g; (void)gis; (void)gcs; (void)O;
    (void)Q; (void)nimg; (void)dw;
}

void engine_flat_conv_weight_grad9(const float *in, long iis, long ics, int C, const long *off, long width,
                                   const float *gt, long gti, int O, int Ho, int Wo, int nimg, float *dwv) {
    (void)in; (void)iis; (void)ics; (void)C; (void)off; (void)width; (void)gt; (void)gti; (void)O; (void)Ho;
    (void)Wo; (void)nimg; (void)dwv;
}

void engine_flat_conv_weight_grad9_finish(const float *dwv, int O, int C, float *dw) {
    (void)dwv; (void)O; (void)C; (void)dw;
}

void engine_flat_pack_gradient_outputs(const float *g, int O, long P, float *dst) {
    (void)g; (void)O; (void)P; (void)dst;
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

void engine_flat_scatter_phases(const float *dp, long phaseStride, int C, int H, int W, int sh, int sw, int ph,
                                int pw, int rows, int width, int rowPhase, float *dx) {
    (void)dp; (void)phaseStride; (void)C; (void)H; (void)W; (void)sh; (void)sw; (void)ph; (void)pw; (void)rows;
    (void)width; (void)rowPhase; (void)dx;
}

void engine_flat_pack_subsampled(const float *x, int C, int H, int W, int sh, int sw, int Ho, int Wo, float *dst) {
    (void)x; (void)C; (void)H; (void)W; (void)sh; (void)sw; (void)Ho; (void)Wo; (void)dst;
}

void engine_flat_scatter_subsampled(const float *dp, int C, int H, int W, int sh, int sw, int Ho, int Wo,
                                    float *dx) {
    (void)dp; (void)C; (void)H; (void)W; (void)sh; (void)sw; (void)Ho; (void)Wo; (void)dx;
}

#endif
