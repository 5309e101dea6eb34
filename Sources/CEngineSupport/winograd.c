// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray, 2015), AVX-512 transforms.
// Each 2x2 block of outputs comes from a 4x4 input tile: with U = G g Gᵀ (weights), V = Bᵀ d B
// (tiles), Y = Aᵀ [Σ_c U ⊙ V] A. The sum over channels is 16 independent matrix products
// [O, C] x [C, tiles], run by the flat-plane kernel of flat_conv.c with a single tap: 16
// multiplies per 2x2 outputs instead of 36.
//
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//   Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// Transforms are vectorised over 16 neighbouring tiles of one tile row: each input row is split
// into its even and odd columns once, after which every term is a unit-stride vector.
// Transform index ξ = 4a + s: a from the left factor (rows), s from the right one (columns).
#include "CEngineSupport.h"
#include "avx512.h"
#include "epilogue.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

// The transform matrices of one set (16 or 36) are stored this many floats further apart than
// their size: sizes are often powers of two, and streams a power of two apart would all share one
// set of every cache.
enum { XI_PAD = 16 };

long engine_winograd_matrix_stride(long floats) { return floats + XI_PAD; }
long engine_winograd_weight_stride(int O, int C) { return engine_winograd_matrix_stride((long)((O + 3) / 4) * C * 4); }

// Images of at most this many 2x2 tiles per row go through staging (see input_tiles_narrow /
// output_tiles_narrow): a row's 16-tile vectors would be partly empty and their stores split cache
// lines. Measured on the input transform of 16 channels at 28x28 (14 tiles per row), one thread:
// 15.2-21.7 us per image without staging, 12.4-12.6 with.
enum { NARROW_TILES = 16 };
static long input_stage_floats(int TY, int TX) { return TX <= NARROW_TILES ? 8 * ((long)(TY + 1) * TX + 16) : 0; }
static long output_stage_floats(long rows, int TX) { return TX <= NARROW_TILES ? 4 * (rows * TX + 16) : 0; }

#if defined(__x86_64__)


// Where split_row reads columns 2j + shift - pad, j = j0..<j0+16, of a row of `width` floats: the
// first column and the lane masks of its two loads. They depend on the column only, so the
// transforms work them out once per layer for every block of 16 tiles (worked out per row they
// took up to a fifth of a transform's time).
typedef struct { long col; __mmask16 a, b; } row_split;
AVX512 static INLINE row_split row_split_at(long width, long pad, long j0, long shift) {
    const long col = 2 * j0 + shift - pad;
    const row_split s = {col, lane_range(-col, width - col), lane_range(-col - 16, width - col - 16)};
    return s;
}

// The even and odd columns `s` describes of `row`, zero outside the row and for a NULL row.
// Straight from the row: no stores to reload from.
AVX512 static INLINE void split_row(const float *row, row_split s, __m512 *even, __m512 *odd) {
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    if (row) {
        a = _mm512_maskz_loadu_ps(s.a, row + s.col);
        b = _mm512_maskz_loadu_ps(s.b, row + s.col + 16);
    }
    *even = _mm512_permutex2var_ps(a, index_even(), b);
    *odd = _mm512_permutex2var_ps(a, index_odd(), b);
}

// Bᵀ applied to four values of a 4x4 tile (a row, then a column): (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
AVX512 static INLINE void bt4(__m512 d0, __m512 d1, __m512 d2, __m512 d3, __m512 o[4]) {
    o[0] = _mm512_sub_ps(d0, d2);
    o[1] = _mm512_add_ps(d1, d2);
    o[2] = _mm512_sub_ps(d2, d1);
    o[3] = _mm512_sub_ps(d1, d3);
}

// Bᵀ d B from the row transforms d[r][s] of 16 tiles, stored at out[(4a + s) * vs].
AVX512 static INLINE void store_bt4_columns(__m512 d[4][4], float *out, long vs, __mmask16 m) {
    for (int s = 0; s < 4; s++) {
        __m512 o[4];
        bt4(d[0][s], d[1][s], d[2][s], d[3][s], o);
        for (int a = 0; a < 4; a++) _mm512_mask_storeu_ps(out + (4 * a + s) * vs, m, o[a]);
    }
}

// input_tiles for narrow images (at most NARROW_TILES tiles per row, so one tile row would fill
// a vector partly). Per channel and image, every padded input row the group needs is split once
// into its even and odd columns, each also shifted by one tile, and stored with a row stride of
// TX: then tile rows follow each other in every staged array, exactly as the tiles do in V, and
// the transform runs on 16 tiles of several tile rows at once.
AVX512 static void input_tiles_narrow(const float *x, int C, int H, int W, int ph, int pw, int TY, int TX,
                                      long firstRow, long rows, float *v, long vs, long ld, float *stage) {
    // stage: [parity 2][kind 4: even, even+1, odd, odd+1][(TY + 1) * TX + 16]
    const long kindFloats = (long)(TY + 1) * TX + 16;
    const row_split m0 = row_split_at(W, pw, 0, 0), m2 = row_split_at(W, pw, 0, 2);
    const __mmask16 stored = lane_range(0, TX);
    // The columns one tile further on are the next lane's, so with under 16 tiles per row a
    // permute gives them instead of two more loads of the row (measured, both threads, batch 128,
    // forward / input gradient GFLOP/s: 16 ch 28x28 236-267 / 232-256 -> 260-288 / 240-274,
    // 32 ch 14x14 390-418 -> 390-448).
    const int shiftInLanes = TX < 16;
    const __m512i next = index_next();
    for (int c = 0; c < C; c++) {
        long k = 0;
        while (k < rows) {
            const long row = firstRow + k, img = row / TY;
            const int ty0 = (int)(row % TY);
            const int count = (int)(TY - ty0 < rows - k ? TY - ty0 : rows - k);  // tile rows of this image
            const float *plane = x + (img * C + c) * H * W;
            // The narrow transform reads a channel's plane of each image (28x28: 49 cache lines),
            // then the next channel's: too short a run for the hardware prefetcher, and the loads
            // stalled (perf: most of the transform's samples on them). So the next channel's rows
            // are asked for now; with batch norm's prefetching (batch_norm.c) the small-ResNet
            // training step got 4-9% faster (alternating pairs). Wide images have long enough rows.
            if (c + 1 < C) {
                const int y0 = 2 * ty0 - ph, y1 = 2 * (ty0 + count) + 2 - ph;
                const int lo = y0 < 0 ? 0 : y0, hi = y1 > H ? H : y1;
                if (hi > lo) prefetch_floats(plane + (long)H * W + (long)lo * W, (long)(hi - lo) * W);
            }
            for (int i = 0; i <= count; i++) {
                for (int parity = 0; parity < 2; parity++) {
                    int y = 2 * (ty0 + i) + parity - ph;
                    const float *src = y >= 0 && y < H ? plane + (long)y * W : NULL;
                    __m512 e0, o0, e1, o1;
                    split_row(src, m0, &e0, &o0);
                    if (shiftInLanes) {
                        e1 = _mm512_permutexvar_ps(next, e0);
                        o1 = _mm512_permutexvar_ps(next, o0);
                    } else {
                        split_row(src, m2, &e1, &o1);
                    }
                    float *base = stage + parity * 4 * kindFloats + (long)i * TX;
                    _mm512_mask_storeu_ps(base, stored, e0);
                    _mm512_mask_storeu_ps(base + kindFloats, stored, e1);
                    _mm512_mask_storeu_ps(base + 2 * kindFloats, stored, o0);
                    _mm512_mask_storeu_ps(base + 3 * kindFloats, stored, o1);
                }
            }
            const long tiles = (long)count * TX;
            float *out = v + (long)c * ld + k * TX;
            for (long t = 0; t < tiles; t += 16) {
                __mmask16 m = lane_range(0, tiles - t);
                __m512 d[4][4];
                for (int r = 0; r < 4; r++) {
                    const float *base = stage + (r & 1) * 4 * kindFloats + (r >> 1) * TX + t;
                    __m512 e0 = _mm512_loadu_ps(base), e1 = _mm512_loadu_ps(base + kindFloats);
                    __m512 o0 = _mm512_loadu_ps(base + 2 * kindFloats), o1 = _mm512_loadu_ps(base + 3 * kindFloats);
                    bt4(e0, o0, e1, o1, d[r]);
                }
                store_bt4_columns(d, out + t, vs, m);
            }
            k += count;
        }
    }
}

// The n input rows under tile row `row` (image row / TY, tile row row % TY; tiles of `tile` outputs)
// of channel c, NULL where they fall in the padding.
static INLINE void tile_row_sources(const float *x, int C, int H, int W, int ph, int TY, int tile, int c, long row,
                                    int n, const float **src) {
    const long img = row / TY;
    const int ty = (int)(row % TY);
    const float *plane = x + (img * C + c) * H * W;
    for (int r = 0; r < n; r++) {
        int y = tile * ty - ph + r;
        src[r] = y >= 0 && y < H ? plane + (long)y * W : NULL;
    }
}

// V = Bᵀ d B for tile rows firstRow..<firstRow+rows (row r: image r / TY, tile row r % TY) of images
// x [n][C][H][W] into v[ξ*vs + c*ld + k*TX + j]. Channels outside, tile rows inside: each channel's
// input rows are read in order, the overlapping rows of neighbouring tile rows from L1.
AVX512 static void input_tiles_wide(const float *x, int C, int H, int W, int ph, int pw, int TY, int TX,
                                    long firstRow, long rows, float *v, long vs, long ld) {
    const int blocks = (TX + 15) / 16;
    row_split m0[blocks], m2[blocks];
    __mmask16 stored[blocks];
    for (int b = 0; b < blocks; b++) {
        m0[b] = row_split_at(W, pw, 16L * b, 0);
        m2[b] = row_split_at(W, pw, 16L * b, 2);
        stored[b] = lane_range(0, TX - 16L * b);
    }
    for (int c = 0; c < C; c++) {
        for (long k = 0; k < rows; k++) {
            const float *src[4];
            tile_row_sources(x, C, H, W, ph, TY, 2, c, firstRow + k, 4, src);
            float *out = v + (long)c * ld + k * TX;
            for (int b = 0; b < blocks; b++) {
                const long j = 16L * b;
                __m512 d[4][4];
                for (int r = 0; r < 4; r++) {
                    __m512 e0, o0, e1, o1;
                    split_row(src[r], m0[b], &e0, &o0);
                    split_row(src[r], m2[b], &e1, &o1);
                    bt4(e0, o0, e1, o1, d[r]);
                }
                store_bt4_columns(d, out + j, vs, stored[b]);
            }
        }
    }
}

// `stage`: input_stage_floats(TY, TX) floats, zeroed (lanes past the last tile read its slack, and
// garbage there could be slow denormals).
AVX512 static void input_tiles(const float *x, int C, int H, int W, int ph, int pw, int TY, int TX, long firstRow,
                               long rows, float *v, long vs, long ld, float *stage) {
    if (TX > NARROW_TILES) input_tiles_wide(x, C, H, W, ph, pw, TY, TX, firstRow, rows, v, vs, ld);
    else input_tiles_narrow(x, C, H, W, ph, pw, TY, TX, firstRow, rows, v, vs, ld, stage);
}

// Ŷ = A dY Aᵀ (the gradient of M = U ⊙ V) for the same tile rows of dY [n][O][Ho][Wo]:
// gh[ξ*vs + o*ld + k*TX + j]. Outputs past the edge count as zero.
AVX512 static void gradient_tiles(const float *g, int O, int Ho, int Wo, int TY, int TX, long firstRow, long rows,
                                  float *gh, long vs, long ld) {
    const __m512 zero = _mm512_setzero_ps();
    const int blocks = (TX + 15) / 16;
    row_split loads[blocks];
    __mmask16 stored[blocks];
    for (int b = 0; b < blocks; b++) {
        loads[b] = row_split_at(Wo, 0, 16L * b, 0);
        stored[b] = lane_range(0, TX - 16L * b);
    }
    for (int o = 0; o < O; o++) {
        for (long k = 0; k < rows; k++) {
            const long row = firstRow + k, img = row / TY;
            const int ty = (int)(row % TY);
            const float *plane = g + (img * O + o) * Ho * Wo;
            float *out = gh + (long)o * ld + k * TX;
            for (int b = 0; b < blocks; b++) {
                const long j = 16L * b;
                const __mmask16 m = stored[b];
                __m512 q[2][4];
                for (int r = 0; r < 2; r++) {
                    int y = 2 * ty + r;
                    __m512 e, d;
                    split_row(y < Ho ? plane + (long)y * Wo : NULL, loads[b], &e, &d);
                    q[r][0] = e;
                    q[r][1] = _mm512_add_ps(e, d);
                    q[r][2] = _mm512_sub_ps(e, d);
                    q[r][3] = _mm512_sub_ps(zero, d);
                }
                for (int s = 0; s < 4; s++) {
                    _mm512_mask_storeu_ps(out + (0 + s) * vs + j, m, q[0][s]);
                    _mm512_mask_storeu_ps(out + (4 + s) * vs + j, m, _mm512_add_ps(q[0][s], q[1][s]));
                    _mm512_mask_storeu_ps(out + (8 + s) * vs + j, m, _mm512_sub_ps(q[0][s], q[1][s]));
                    _mm512_mask_storeu_ps(out + (12 + s) * vs + j, m, _mm512_sub_ps(zero, q[1][s]));
                }
            }
        }
    }
}

// Aᵀ M A (+ b) of 16 tiles from their 16 products v[4a + s]: y[r][q] is output row r, column q of each tile.
AVX512 static INLINE void at4_tile(const __m512 v[16], channel_epilogue e, __m512 y[2][2]) {
    for (int r = 0; r < 2; r++) {
        __m512 p[4];
        for (int s = 0; s < 4; s++)
            p[s] = r == 0 ? _mm512_add_ps(_mm512_add_ps(v[s], v[4 + s]), v[8 + s])
                          : _mm512_sub_ps(_mm512_sub_ps(v[4 + s], v[8 + s]), v[12 + s]);
        y[r][0] = apply_affine(e, _mm512_add_ps(_mm512_add_ps(p[0], p[1]), p[2]));
        y[r][1] = apply_affine(e, _mm512_sub_ps(_mm512_sub_ps(p[1], p[2]), p[3]));
    }
}

// Y = Aᵀ M A, through the channel epilogue, from m[ξ*ms + o*ld + k*TX + j] into the same tile rows
// of y [n][O][Ho][Wo].
AVX512 static void output_tiles_wide(const float *mt, long ms, long ld, int O, int TY, int TX, long firstRow,
                                     long rows, int Ho, int Wo, const float *scale, const float *shift,
                                     const float *residual, int relu, float *y) {
    const __m512i lo = index_interleave_lo(), hi = index_interleave_hi();
    const int blocks = (TX + 15) / 16;
    __mmask16 loaded[blocks], first[blocks], second[blocks];  // 16 tiles; their two 16-pixel halves
    for (int b = 0; b < blocks; b++) {
        loaded[b] = lane_range(0, TX - 16L * b);
        first[b] = lane_range(0, Wo - 32L * b);
        second[b] = lane_range(0, Wo - 32L * b - 16);
    }
    for (int o = 0; o < O; o++) {
        const channel_epilogue e = epilogue_for(scale, shift, residual, relu, y, o);
        for (long k = 0; k < rows; k++) {
            const long row = firstRow + k, img = row / TY;
            const int ty = (int)(row % TY);
            const int outRows = 2 * ty + 1 < Ho ? 2 : 1;
            const float *src = mt + (long)o * ld + k * TX;
            for (int b = 0; b < blocks; b++) {
                const long j = 16L * b;
                __m512 v[16], t[2][2];
                for (int i = 0; i < 16; i++) v[i] = _mm512_maskz_loadu_ps(loaded[b], src + i * ms + j);
                at4_tile(v, e, t);
                for (int r = 0; r < outRows; r++) {
                    float *dst = y + ((img * O + o) * Ho + 2 * ty + r) * Wo + 2L * j;
                    store_output(e, dst, first[b], _mm512_permutex2var_ps(t[r][0], lo, t[r][1]));
                    store_output(e, dst + 16, second[b], _mm512_permutex2var_ps(t[r][0], hi, t[r][1]));
                }
            }
        }
    }
}

// ---- F(4x4, 3x3): 6x6 input tiles, 36 products per 4x4 outputs (4x fewer multiplies than direct) ----
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// Transform index ξ = 6a + s. Input rows are split into their four column phases (4j + q).

// p[q][j] = row[col + 4j + q], j < 16, zero outside the row (lanes `m`, see split4_masks) and
// for a NULL row.
AVX512 static INLINE void split4(const float *row, long col, const __mmask16 m[4], __m512 p[4]) {
    __m512 v[4];
    for (int i = 0; i < 4; i++) v[i] = row ? _mm512_maskz_loadu_ps(m[i], row + col + 16L * i) : _mm512_setzero_ps();
    const __m512i ie = index_even(), io = index_odd();
    __m512 e01 = _mm512_permutex2var_ps(v[0], ie, v[1]), o01 = _mm512_permutex2var_ps(v[0], io, v[1]);
    __m512 e23 = _mm512_permutex2var_ps(v[2], ie, v[3]), o23 = _mm512_permutex2var_ps(v[2], io, v[3]);
    p[0] = _mm512_permutex2var_ps(e01, ie, e23);
    p[2] = _mm512_permutex2var_ps(e01, io, e23);
    p[1] = _mm512_permutex2var_ps(o01, ie, o23);
    p[3] = _mm512_permutex2var_ps(o01, io, o23);
}

// The lane masks split4 needs for columns col..<col+64 of a row of `width` floats.
AVX512 static INLINE void split4_masks(long width, long col, __mmask16 m[4]) {
    for (int i = 0; i < 4; i++) m[i] = lane_range(-(col + 16L * i), width - (col + 16L * i));
}

AVX512 static INLINE void bt6(const __m512 d[6], __m512 o[6]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    o[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    o[1] = _mm512_fnmadd_ps(four, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
    o[2] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    __m512 t3 = _mm512_sub_ps(d[3], d[1]), t4 = _mm512_sub_ps(d[4], d[2]);
    o[3] = _mm512_fmadd_ps(two, t3, t4);
    o[4] = _mm512_fnmadd_ps(two, t3, t4);
    o[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

AVX512 static INLINE void at6(const __m512 m[6], __m512 y[4]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8);
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    y[1] = _mm512_fmadd_ps(two, d34, d12);
    y[2] = _mm512_fmadd_ps(four, s34, s12);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5]);
}

AVX512 static void input_tiles4(const float *x, int C, int H, int W, int ph, int pw, int TY, int TX, long firstRow,
                                long rows, float *v, long vs, long ld) {
    const int blocks = (TX + 15) / 16;
    __mmask16 mp[blocks][4], mq[blocks][4], stored[blocks];
    for (int b = 0; b < blocks; b++) {
        split4_masks(W, 64L * b - pw, mp[b]);
        split4_masks(W, 64L * b - pw + 4, mq[b]);
        stored[b] = lane_range(0, TX - 16L * b);
    }
    for (int c = 0; c < C; c++) {
        for (long k = 0; k < rows; k++) {
            const float *src[6];
            tile_row_sources(x, C, H, W, ph, TY, 4, c, firstRow + k, 6, src);
            float *out = v + (long)c * ld + k * TX;
            for (int b = 0; b < blocks; b++) {
                const long j = 16L * b;
                const __mmask16 m = stored[b];
                __m512 R[6][6];
                for (int r = 0; r < 6; r++) {
                    __m512 p[4], q[4];
                    split4(src[r], 4 * j - pw, mp[b], p);
                    split4(src[r], 4 * j - pw + 4, mq[b], q);
                    __m512 d[6] = {p[0], p[1], p[2], p[3], q[0], q[1]};
                    bt6(d, R[r]);
                }
                for (int s = 0; s < 6; s++) {
                    __m512 col[6] = {R[0][s], R[1][s], R[2][s], R[3][s], R[4][s], R[5][s]}, o[6];
                    bt6(col, o);
                    for (int a = 0; a < 6; a++) _mm512_mask_storeu_ps(out + (6 * a + s) * vs + j, m, o[a]);
                }
            }
        }
    }
}

AVX512 static void output_tiles4(const float *mt, long ms, long ld, int O, int TY, int TX, long firstRow, long rows,
                                 int Ho, int Wo, const float *scale, const float *shift, const float *residual,
                                 int relu, float *y) {
    const __m512i lo = index_interleave_lo(), hi = index_interleave_hi();
    const int blocks = (TX + 15) / 16;
    __mmask16 loaded[blocks], stored[blocks][4];  // 16 tiles; their four 16-pixel quarters
    for (int b = 0; b < blocks; b++) {
        loaded[b] = lane_range(0, TX - 16L * b);
        for (int i = 0; i < 4; i++) stored[b][i] = lane_range(0, Wo - 64L * b - 16L * i);
    }
    for (int o = 0; o < O; o++) {
        const channel_epilogue e = epilogue_for(scale, shift, residual, relu, y, o);
        for (long k = 0; k < rows; k++) {
            const long row = firstRow + k, img = row / TY;
            const int ty = (int)(row % TY);
            const int outRows = Ho - 4 * ty < 4 ? Ho - 4 * ty : 4;
            const float *src = mt + (long)o * ld + k * TX;
            for (int b = 0; b < blocks; b++) {
                const long j = 16L * b;
                const __mmask16 m = loaded[b];
                __m512 P[4][6];
                for (int s = 0; s < 6; s++) {
                    __m512 col[6], y4[4];
                    for (int a = 0; a < 6; a++) col[a] = _mm512_maskz_loadu_ps(m, src + (6 * a + s) * ms + j);
                    at6(col, y4);
                    for (int r = 0; r < 4; r++) P[r][s] = y4[r];
                }
                for (int r = 0; r < outRows; r++) {
                    __m512 q[4];
                    at6(P[r], q);
                    for (int i = 0; i < 4; i++) q[i] = apply_affine(e, q[i]);
                    // Output column 4j + i comes from q[i][j]: interleave twice.
                    __m512 elo = _mm512_permutex2var_ps(q[0], lo, q[2]), ehi = _mm512_permutex2var_ps(q[0], hi, q[2]);
                    __m512 olo = _mm512_permutex2var_ps(q[1], lo, q[3]), ohi = _mm512_permutex2var_ps(q[1], hi, q[3]);
                    __m512 out[4] = {_mm512_permutex2var_ps(elo, lo, olo), _mm512_permutex2var_ps(elo, hi, olo),
                                     _mm512_permutex2var_ps(ehi, lo, ohi), _mm512_permutex2var_ps(ehi, hi, ohi)};
                    float *dst = y + ((img * O + o) * Ho + 4 * ty + r) * Wo + 4L * j;
                    for (int i = 0; i < 4; i++) store_output(e, dst + 16 * i, stored[b][i], out[i]);
                }
            }
        }
    }
}

// F(4x4) for narrow images (at most NARROW4_TILES tiles per row, so a row of tiles fills under half
// a vector). As in input_tiles_narrow, tiles of several tile rows are staged one after another so
// that each vector of the transform holds 16 tiles; the staging also applies B along the columns:
// per tile row and input row r, the six column phases (4j + q, q < 6) are permuted out of the row's
// first 32 floats and transformed at once, and the second pass applies Bᵀ across r. Against the
// wide F(4x4) transforms (7 of 16 lanes used at 28x28), ResNet-18 layer2 (128 ch, 28x28, batch 8)
// forward / input gradient 3.78-4.07 / 3.99-4.49 -> 3.04-3.58 / 3.49-3.88 ms.
enum { NARROW4_TILES = ENGINE_WINOGRAD_NARROW4_TILES, NARROW4_ROWS = 16 };
static long input_stage4_floats(int TX) { return TX <= NARROW4_TILES ? 36L * (NARROW4_ROWS * TX + 16) : 0; }
static long output_stage4_floats(long rows, int TX) { return TX <= NARROW4_TILES ? 16 * (rows * TX + 16) : 0; }

// Permute index picking lanes 4j + q (mod 32) of two vectors (a, b) as one.
AVX512 static INLINE __m512i index_phase4(int q) {
    return _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                            _mm512_set1_epi32(q));
}

// The column phases of input row r of 16 tiles, for rows of 4 tiles (4 tile rows; the row fits in
// one vector) or of 2 tiles (8 tile rows; two rows per vector), columns past the vector zero:
// d[q] lane TX*g + j = column 4j + q of tile row g's row. Instead of a permute per phase and tile
// row (and a blend to merge the rows), each loaded vector's lanes go from (j, q) to (q, j) order with
// one permute, and a 4x4 transpose of 128-bit blocks gathers phase q of every row: 14 shuffles per
// 16 tiles where the general path spends 6 per tile row (24-48) plus blends.
AVX512 static INLINE void column_phases_transposed(int TX, const float *const *plane, const int *ty, int ng, int r,
                                                   int H, int W, int ph, int pw, __mmask16 ma, __m512 d[6]) {
    __m512 p[4];
    if (TX == 4) {
        for (int g = 0; g < 4; g++) {  // lanes (j, q) of tile row g
            const int y = 4 * ty[g] - ph + r;
            p[g] = g < ng && y >= 0 && y < H ? _mm512_maskz_loadu_ps(ma, plane[g] + (long)y * W - pw)
                                             : _mm512_setzero_ps();
        }
    } else {
        for (int k = 0; k < 4; k++) {  // lanes (h, j, q) of tile rows 2k + h
            __m512 v = _mm512_setzero_ps();
            for (int h = 0; h < 2; h++) {
                const int g = 2 * k + h, y = 4 * ty[g] - ph + r;
                if (g < ng && y >= 0 && y < H)
                    v = _mm512_mask_loadu_ps(v, (__mmask16)(ma << (8 * h)), plane[g] + (long)y * W - pw - 8 * h);
            }
            p[k] = v;
        }
    }
    // Both layouts take lane 4a + q to lane 4q + a (a = j, or 2h + j): block q then holds phase q.
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int k = 0; k < 4; k++) p[k] = _mm512_permutexvar_ps(order, p[k]);
    const __m512 t0 = _mm512_shuffle_f32x4(p[0], p[1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 t1 = _mm512_shuffle_f32x4(p[0], p[1], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 t2 = _mm512_shuffle_f32x4(p[2], p[3], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 t3 = _mm512_shuffle_f32x4(p[2], p[3], _MM_SHUFFLE(3, 2, 3, 2));
    d[0] = _mm512_shuffle_f32x4(t0, t2, _MM_SHUFFLE(2, 0, 2, 0));
    d[1] = _mm512_shuffle_f32x4(t0, t2, _MM_SHUFFLE(3, 1, 3, 1));
    d[2] = _mm512_shuffle_f32x4(t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
    d[3] = _mm512_shuffle_f32x4(t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
    // Phases 4 and 5 are phases 0 and 1 of the next tile; the last tile of a row reads past the
    // vector, where the caller guarantees zeros.
    const __m512i next = index_next();
    const __mmask16 inside = TX == 4 ? 0x7777 : 0x5555;
    d[4] = _mm512_maskz_permutexvar_ps(inside, next, d[0]);
    d[5] = _mm512_maskz_permutexvar_ps(inside, next, d[1]);
}

AVX512 static void input_tiles4_narrow(const float *x, int C, int H, int W, int ph, int pw, int TY, int TX,
                                       long firstRow, long rows, float *v, long vs, long ld, float *stage) {
    const long sf = NARROW4_ROWS * TX + 16;  // stage: [r 6][s 6][sf]
    const __mmask16 ma = lane_range(pw, pw + W), mb = lane_range(pw - 16, pw + W - 16);
    // G tile rows share each staged vector: tile row g of a group is permuted straight into lanes
    // g*TX..<(g+1)*TX and blended in, so B is applied and the result stored once per group, not per tile row
    // (forward, ms: 64 ch 7x7 1.43-2.22 -> 1.37-2.08, 3 of 3 runs faster; 16 ch 28x28 5 of 6).
    // With it, 14x14 images became faster by F(4x4) than by F(2x2) (winogradTile).
    const int G = 16 / TX;
    const int transposed = (TX == 4 && W + pw <= 16) || (TX == 2 && W + pw <= 8);
    __m512i phase[16][6];  // lane l of tile row g: column 4(l - g TX) + q (general path only)
    __mmask16 place[16];
    for (int g = 0; g < G && !transposed; g++) {
        place[g] = lane_range((long)g * TX, (long)(g + 1) * TX);
        for (int q = 0; q < 6; q++) phase[g][q] = _mm512_add_epi32(index_phase4(q), _mm512_set1_epi32(-4 * g * TX));
    }
    for (int c = 0; c < C; c++) {
        for (long k0 = 0; k0 < rows; k0 += NARROW4_ROWS) {
            const long kb = rows - k0 < NARROW4_ROWS ? rows - k0 : NARROW4_ROWS;
            for (long g0 = 0; g0 < kb; g0 += G) {
                const int ng = (int)(kb - g0 < G ? kb - g0 : G);
                const float *plane[16];
                int ty[16];
                for (int g = 0; g < ng; g++) {
                    const long row = firstRow + k0 + g0 + g, img = row / TY;
                    ty[g] = (int)(row % TY);
                    plane[g] = x + (img * C + c) * H * W;
                    if (c + 1 < C) {
                        // The next channel's rows under this tile row, as input_tiles_narrow asks
                        // for them (16 ch 28x28 forward, 4 of 4 runs faster: 1.80-2.42 -> 1.65-2.11 ms).
                        const int y0 = 4 * ty[g] - ph, y1 = y0 + (ty[g] + 1 < TY ? 4 : 6);
                        const int lo = y0 < 0 ? 0 : y0, hi = y1 > H ? H : y1;
                        if (hi > lo) prefetch_floats(plane[g] + (long)H * W + (long)lo * W, (long)(hi - lo) * W);
                    }
                }
                const __mmask16 stored = lane_range(0, (long)ng * TX);
                for (int r = 0; r < 6; r++) {
                    __m512 d[6], o[6];
                    if (transposed) column_phases_transposed(TX, plane, ty, ng, r, H, W, ph, pw, ma, d);
                    else for (int g = 0; g < ng; g++) {
                        const int y = 4 * ty[g] - ph + r;
                        __m512 a = _mm512_setzero_ps(), b = a;
                        if (y >= 0 && y < H) {
                            a = _mm512_maskz_loadu_ps(ma, plane[g] + (long)y * W - pw);
                            b = _mm512_maskz_loadu_ps(mb, plane[g] + (long)y * W - pw + 16);
                        }
                        for (int q = 0; q < 6; q++) {
                            const __m512 p = _mm512_permutex2var_ps(a, phase[g][q], b);
                            d[q] = g == 0 ? p : _mm512_mask_mov_ps(d[q], place[g], p);
                        }
                    }
                    bt6(d, o);
                    for (int q = 0; q < 6; q++) _mm512_mask_storeu_ps(stage + (6 * r + q) * sf + g0 * TX, stored, o[q]);
                }
            }
            const long tiles = kb * TX;
            float *out = v + (long)c * ld + k0 * TX;
            for (long t = 0; t < tiles; t += 16) {
                const __mmask16 m = lane_range(0, tiles - t);
                for (int q = 0; q < 6; q++) {
                    __m512 col[6], o[6];
                    for (int r = 0; r < 6; r++) col[r] = _mm512_loadu_ps(stage + (6 * r + q) * sf + t);
                    bt6(col, o);
                    for (int a = 0; a < 6; a++) _mm512_mask_storeu_ps(out + (6 * a + q) * vs + t, m, o[a]);
                }
            }
        }
    }
}

// The output transform for narrow images (at most NARROW_TILES 2x2 or NARROW4_TILES 4x4 tiles per
// row): 16 tiles of several tile rows at once into tile x tile staged planes (output row r x
// column phase i, tile rows one after another), then each output row (at most 32 pixels) is
// interleaved from the row's planes.
AVX512 static void output_tiles_narrow(int tile, const float *mt, long ms, long ld, int O, int TY, int TX,
                                       long firstRow, long rows, int Ho, int Wo, const float *scale,
                                       const float *shift, const float *residual, int relu, float *y, float *stage) {
    const __m512i lo = index_interleave_lo(), hi = index_interleave_hi();
    const __mmask16 first = lane_range(0, Wo), second = lane_range(0, Wo - 16L);
    const long tiles = rows * TX, sf = tiles + 16;
    for (int o = 0; o < O; o++) {
        const channel_epilogue e = epilogue_for(scale, shift, residual, relu, y, o);
        const float *src = mt + (long)o * ld;
        for (long t = 0; t < tiles; t += 16) {
            const __mmask16 m = lane_range(0, tiles - t);
            if (tile == 2) {
                __m512 v[16], out[2][2];
                for (int i = 0; i < 16; i++) v[i] = _mm512_maskz_loadu_ps(m, src + i * ms + t);
                at4_tile(v, e, out);
                for (int r = 0; r < 2; r++)
                    for (int i = 0; i < 2; i++) _mm512_storeu_ps(stage + (2 * r + i) * sf + t, out[r][i]);
                continue;
            }
            __m512 P[4][6];
            for (int s = 0; s < 6; s++) {
                __m512 col[6], y4[4];
                for (int a = 0; a < 6; a++) col[a] = _mm512_maskz_loadu_ps(m, src + (6 * a + s) * ms + t);
                at6(col, y4);
                for (int r = 0; r < 4; r++) P[r][s] = y4[r];
            }
            for (int r = 0; r < 4; r++) {
                __m512 q[4];
                at6(P[r], q);
                for (int i = 0; i < 4; i++) _mm512_storeu_ps(stage + (4 * r + i) * sf + t, apply_affine(e, q[i]));
            }
        }
        for (long k = 0; k < rows; k++) {
            const long row = firstRow + k, img = row / TY;
            const int ty = (int)(row % TY);
            const int outRows = Ho - tile * ty < tile ? Ho - tile * ty : tile;
            for (int r = 0; r < outRows; r++) {
                // Output column tile*j + i comes from plane i, lane j.
                const float *base = stage + tile * r * sf + k * TX;
                __m512 even = _mm512_loadu_ps(base), odd = _mm512_loadu_ps(base + sf);
                if (tile == 4) {  // interleave twice (j < 8)
                    const __m512 q2 = _mm512_loadu_ps(base + 2 * sf), q3 = _mm512_loadu_ps(base + 3 * sf);
                    even = _mm512_permutex2var_ps(even, lo, q2);
                    odd = _mm512_permutex2var_ps(odd, lo, q3);
                }
                float *dst = y + ((img * O + o) * Ho + tile * ty + r) * Wo;
                store_output(e, dst, first, _mm512_permutex2var_ps(even, lo, odd));
                if (second) store_output(e, dst + 16, second, _mm512_permutex2var_ps(even, hi, odd));
            }
        }
    }
}

// `stage`: output_stage_floats(rows, TX) floats.
AVX512 static void output_tiles(const float *mt, long ms, long ld, int O, int TY, int TX, long firstRow, long rows,
                                int Ho, int Wo, const float *scale, const float *shift, const float *residual, int relu,
                                float *y, float *stage) {
    if (TX > NARROW_TILES)
        output_tiles_wide(mt, ms, ld, O, TY, TX, firstRow, rows, Ho, Wo, scale, shift, residual, relu, y);
    else output_tiles_narrow(2, mt, ms, ld, O, TY, TX, firstRow, rows, Ho, Wo, scale, shift, residual, relu, y, stage);
}

// The weight gradient for layers too small for 16 whole-batch GEMMs (few channels: the transformed
// batch is mostly memory traffic there). Per group of whole images, in L2: V = Bᵀ d B as above,
// Ŷ = A dY Aᵀ with 16 output channels in the lanes, then dU[ξ] += Σ_t Ŷ[ξ][t] ⊗ V[ξ][:, t] as outer
// products (one Ŷ vector times 16 broadcast V values), so nothing is reduced across lanes and the
// accumulators are dU itself: 16 multiplies per 2x2 outputs instead of the direct kernel's 36.

// Ŷ of one image's dY packed [OB][Ho*Wo][16] (engine_flat_pack_gradient_outputs) into
// gt[((ξ*T + t0 + t)*OB + ob)*16], t = ty*TX + tx; outputs past the edge count as zero.
AVX512 static void gradient_tiles_by_output(const float *p, int OB, int Ho, int Wo, float *gt, long T, long t0) {
    const int TY = (Ho + 1) / 2, TX = (Wo + 1) / 2;
    const long P = (long)Ho * Wo, xs = T * OB * 16;
    const __m512 zero = _mm512_setzero_ps();
    for (int ob = 0; ob < OB; ob++) {
        const float *b = p + (long)ob * P * 16;
        for (int ty = 0; ty < TY; ty++) {
            const int y0 = 2 * ty, two_rows = y0 + 1 < Ho;
            for (int tx = 0; tx < TX; tx++) {
                const int x0 = 2 * tx, two_cols = x0 + 1 < Wo;
                const float *d = b + ((long)y0 * Wo + x0) * 16;
                const __m512 d00 = _mm512_loadu_ps(d), d01 = two_cols ? _mm512_loadu_ps(d + 16) : zero;
                const __m512 d10 = two_rows ? _mm512_loadu_ps(d + Wo * 16) : zero;
                const __m512 d11 = two_rows && two_cols ? _mm512_loadu_ps(d + Wo * 16 + 16) : zero;
                __m512 q[2][4];
                const __m512 e[2] = {d00, d10}, o[2] = {d01, d11};
                for (int r = 0; r < 2; r++) {
                    q[r][0] = e[r];
                    q[r][1] = _mm512_add_ps(e[r], o[r]);
                    q[r][2] = _mm512_sub_ps(e[r], o[r]);
                    q[r][3] = _mm512_sub_ps(zero, o[r]);
                }
                float *out = gt + ((t0 + (long)ty * TX + tx) * OB + ob) * 16;
                for (int s = 0; s < 4; s++) {
                    _mm512_storeu_ps(out + (0 + s) * xs, q[0][s]);
                    _mm512_storeu_ps(out + (4 + s) * xs, _mm512_add_ps(q[0][s], q[1][s]));
                    _mm512_storeu_ps(out + (8 + s) * xs, _mm512_sub_ps(q[0][s], q[1][s]));
                    _mm512_storeu_ps(out + (12 + s) * xs, _mm512_sub_ps(zero, q[1][s]));
                }
            }
        }
    }
}

// A applied to four values of a 4x4 block of dY (a row, then a column), F(4x4): the transpose of
// Aᵀ above, (d0, d0+d1+d2+d3, d0-d1+d2-d3, d0+2d1+4d2+8d3, d0-2d1+4d2-8d3, d3).
AVX512 static INLINE void a6(__m512 d0, __m512 d1, __m512 d2, __m512 d3, __m512 o[6]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8);
    const __m512 e = _mm512_add_ps(d0, d2), od = _mm512_add_ps(d1, d3);
    const __m512 e4 = _mm512_fmadd_ps(four, d2, d0), o4 = _mm512_fmadd_ps(eight, d3, _mm512_mul_ps(two, d1));
    o[0] = d0;
    o[1] = _mm512_add_ps(e, od);
    o[2] = _mm512_sub_ps(e, od);
    o[3] = _mm512_add_ps(e4, o4);
    o[4] = _mm512_sub_ps(e4, o4);
    o[5] = d3;
}

// gradient_tiles_by_output for F(4x4): Ŷ = A dY Aᵀ (6x6) of every 4x4 block, ξ = 6i + j.
AVX512 static void gradient_tiles_by_output4(const float *p, int OB, int Ho, int Wo, float *gt, long T, long t0) {
    const int TY = (Ho + 3) / 4, TX = (Wo + 3) / 4;
    const long P = (long)Ho * Wo, xs = T * OB * 16;
    const __m512 zero = _mm512_setzero_ps();
    for (int ob = 0; ob < OB; ob++) {
        const float *b = p + (long)ob * P * 16;
        for (int ty = 0; ty < TY; ty++) {
            for (int tx = 0; tx < TX; tx++) {
                __m512 q[4][6];
                for (int r = 0; r < 4; r++) {
                    const int y = 4 * ty + r;
                    __m512 d[4];
                    for (int c = 0; c < 4; c++)
                        d[c] = y < Ho && 4 * tx + c < Wo ? _mm512_loadu_ps(b + ((long)y * Wo + 4 * tx + c) * 16) : zero;
                    a6(d[0], d[1], d[2], d[3], q[r]);
                }
                float *out = gt + ((t0 + (long)ty * TX + tx) * OB + ob) * 16;
                for (int j = 0; j < 6; j++) {
                    __m512 o[6];
                    a6(q[0][j], q[1][j], q[2][j], q[3][j], o);
                    for (int i = 0; i < 6; i++) _mm512_storeu_ps(out + (6 * i + j) * xs, o[i]);
                }
            }
        }
    }
}

// du[((ξ*OB + ob)*C + c)*16 + lane] += Σ_t gt[((ξ*T + t)*OB + ob)*16 + lane] * v[ξ*vs + c*ld + t], for
// blocks of 8 input channels (a last, shorter block reads its first channel again and drops it).
// Eight, not sixteen: the rows' pointers plus the tile index then fit in the general registers, and
// each broadcast is one FMA operand [row + 4t]. With sixteen, clang kept a moving pointer per row
// and spilled them, a store and reload per row per tile (measured, ms, both threads, batch 128:
// 16 ch 28x28 1.74-1.91 -> 1.17-1.31, 32 ch 14x14 1.42-1.50 -> 0.90-1.04, 64 ch 7x7 1.82-2.00 ->
// 1.09-1.35).
#define WG_DU_FMA(j) a##j = _mm512_fmadd_ps(_mm512_set1_ps(r##j[t]), gv, a##j);
#define WG_DU_ROWS(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define WG_DU_ROW(j) const float *r##j = vx + (long)(c0 + ((j) < nc ? (j) : 0)) * ld;
#define WG_DU_ZERO(j) __m512 a##j = _mm512_setzero_ps();
#define WG_DU_STORE(j) if ((j) < nc) { float *d_ = dst + (j) * 16; _mm512_storeu_ps(d_, _mm512_add_ps(_mm512_loadu_ps(d_), a##j)); }

AVX512 static void weight_grad_outer_products(const float *v, long vs, long ld, int C, const float *gt, long T,
                                              int OB, int points, float *du) {
    const long xs = T * OB * 16;
    for (int xi = 0; xi < points; xi++) {
        const float *vx = v + xi * vs;
        for (int ob = 0; ob < OB; ob++) {
            const float *g = gt + xi * xs + ob * 16;
            for (int c0 = 0; c0 < C; c0 += 8) {
                const int nc = C - c0 < 8 ? C - c0 : 8;
                WG_DU_ROWS(WG_DU_ROW)
                WG_DU_ROWS(WG_DU_ZERO)
                for (long t = 0; t < T; t++) {
                    const __m512 gv = _mm512_loadu_ps(g + t * OB * 16);
                    WG_DU_ROWS(WG_DU_FMA)
                }
                float *dst = du + (((long)xi * OB + ob) * C + c0) * 16;
                WG_DU_ROWS(WG_DU_STORE)
            }
        }
    }
}

// Where the driver below keeps one group's V, Ŷ, one packed image of dY and the input staging.
typedef struct { long vs, gs, pack, stage, total; } wg_dw_scratch;
static wg_dw_scratch wg_dw_scratch_layout(int C, int O, int Ho, int Wo, int groupImages, int tile) {
    const int TY = (Ho + tile - 1) / tile, TX = (Wo + tile - 1) / tile, OB = (O + 15) / 16;
    const long T = (long)groupImages * TY * TX, points = (tile + 2) * (tile + 2);
    wg_dw_scratch s;
    s.vs = engine_winograd_matrix_stride((long)C * T);
    s.gs = engine_winograd_matrix_stride(T * OB * 16);
    s.pack = (long)OB * 16 * Ho * Wo;
    s.stage = tile == 4 ? input_stage4_floats(TX) : input_stage_floats(TY, TX);
    s.total = points * (s.vs + s.gs) + s.pack + s.stage;
    return s;
}

// `tile` 4: F(4x4) (36 products per 4x4 outputs), for narrow images only (at most NARROW4_TILES
// tiles per row; the caller checks).
AVX512 static void weight_grad_images(const float *x, const float *g, int n, int C, int H, int W, int ph, int pw,
                                      int O, int Ho, int Wo, int groupImages, int tile, float *du, float *scratch) {
    const int TY = (Ho + tile - 1) / tile, TX = (Wo + tile - 1) / tile, OB = (O + 15) / 16;
    const int points = (tile + 2) * (tile + 2);
    const wg_dw_scratch s = wg_dw_scratch_layout(C, O, Ho, Wo, groupImages, tile);
    float *v = scratch, *gt = v + points * s.vs, *pack = gt + points * s.gs, *stage = pack + s.pack;
    memset(stage, 0, sizeof(float) * (size_t)s.stage);
    const long imageTiles = (long)TY * TX;
    for (int i0 = 0; i0 < n; i0 += groupImages) {
        const int count = n - i0 < groupImages ? n - i0 : groupImages;
        const long T = count * imageTiles;
        if (tile == 4) input_tiles4_narrow(x, C, H, W, ph, pw, TY, TX, (long)i0 * TY, (long)count * TY, v, s.vs, T, stage);
        else input_tiles(x, C, H, W, ph, pw, TY, TX, (long)i0 * TY, (long)count * TY, v, s.vs, T, stage);
        for (int i = 0; i < count; i++) {
            engine_flat_pack_gradient_outputs(g + (long)(i0 + i) * O * Ho * Wo, O, (long)Ho * Wo, pack);
            if (tile == 4) gradient_tiles_by_output4(pack, OB, Ho, Wo, gt, T, i * imageTiles);
            else gradient_tiles_by_output(pack, OB, Ho, Wo, gt, T, i * imageTiles);
        }
        weight_grad_outer_products(v, s.vs, T, C, gt, T, OB, points, du);
    }
}

int engine_winograd_available(void) { return engine_cpu_has_avx512(); }

// Rows of a group's transform matrices (one per channel) start on whole vectors: the products
// then load whole cache lines (rows of 70, 98 or 196 tiles, unpadded, ran them 25% slower). Rows a
// multiple of 512 bytes apart would put the span a product reads from 64 rows into a few cache
// sets (128 floats apart: 102 vs 129 GFLOP/s, one thread), so those get one more vector.
static long group_row_floats(long tiles) {
    const long floats = (tiles + 15) & ~15L;
    return floats % 128 == 0 ? floats + 16 : floats;
}

long engine_winograd_scratch_floats(int C, int O, int Ho, int Wo, int tile, int groupRows) {
    const long points = (tile + 2) * (tile + 2), TX = (Wo + tile - 1) / tile, TY = (Ho + tile - 1) / tile;
    const long stages = tile == 2 ? input_stage_floats((int)TY, (int)TX) + output_stage_floats(groupRows, (int)TX)
                                  : input_stage4_floats((int)TX) + output_stage4_floats(groupRows, (int)TX);
    return points * (((long)C + O) * group_row_floats(groupRows * TX) + 2 * XI_PAD) + stages;
}

void engine_winograd_forward(const float *x, int n, int C, int H, int W, int ph, int pw, const float *u, int O,
                             int Ho, int Wo, const float *scale, const float *shift, const float *residual, int relu,
                             float *y, int tile, int groupRows, int transposed, float *scratch) {
    const int TX = (Wo + tile - 1) / tile, TY = (Ho + tile - 1) / tile, points = (tile + 2) * (tile + 2);
    // A transposed `u` is the pack of the convolution of O inputs and C outputs.
    const long total = (long)n * TY;
    const long us = transposed ? engine_winograd_weight_stride(C, O) : engine_winograd_weight_stride(O, C);
    const long zero = 0, groupFloats = points * (((long)C + O) * group_row_floats((long)groupRows * TX) + 2 * XI_PAD);
    // Tile rows staged for the narrow transforms (lanes past the last tile read the stage's slack,
    // zeroed: garbage there could be slow denormals).
    const int narrow4 = tile == 4 && TX <= NARROW4_TILES;
    const long inStageFloats = tile == 2 ? input_stage_floats(TY, TX) : input_stage4_floats(TX);
    float *inStage = scratch + groupFloats, *outStage = inStage + inStageFloats;
    memset(inStage, 0, sizeof(float) * (size_t)inStageFloats);
    for (long r0 = 0; r0 < total; r0 += groupRows) {
        // g tiles per channel row, rows `ld` floats apart.
        const long rows = total - r0 < groupRows ? total - r0 : groupRows, g = rows * TX, ld = group_row_floats(g);
        const long vs = engine_winograd_matrix_stride((long)C * ld), ms = engine_winograd_matrix_stride((long)O * ld);
        float *v = scratch, *m = v + points * vs;
        if (narrow4) input_tiles4_narrow(x, C, H, W, ph, pw, TY, TX, r0, rows, v, vs, ld, inStage);
        else if (tile == 4) input_tiles4(x, C, H, W, ph, pw, TY, TX, r0, rows, v, vs, ld);
        else input_tiles(x, C, H, W, ph, pw, TY, TX, r0, rows, v, vs, ld, inStage);
        for (int xi = 0; xi < points; xi++) {
            if (transposed) {
                // G R = P G for F(2x2, 3x3) (R reverses the three taps, P swaps rows 0 and 3), so the
                // rotated kernels' matrix (i, j) is the forward's (p(i), p(j)), bit for bit.
                static const int p[4] = {3, 1, 2, 0};
                const long forward = 4 * p[xi / 4] + p[xi % 4];
                engine_flat_conv_forward_transposed(v + xi * vs, ld, C, u + forward * us, O, m + xi * ms, ld, g);
            } else {
                engine_flat_conv_forward(v + xi * vs, ld, C, 1, &zero, u + xi * us, O, m + xi * ms, ld, g, 0);
            }
        }
        if (narrow4)
            output_tiles_narrow(4, m, ms, ld, O, TY, TX, r0, rows, Ho, Wo, scale, shift, residual, relu, y, outStage);
        else if (tile == 4) output_tiles4(m, ms, ld, O, TY, TX, r0, rows, Ho, Wo, scale, shift, residual, relu, y);
        else output_tiles(m, ms, ld, O, TY, TX, r0, rows, Ho, Wo, scale, shift, residual, relu, y, outStage);
    }
}

void engine_winograd_input_tiles(const float *x, int C, int H, int W, int ph, int pw, int Ho, int Wo, long firstRow,
                                 long rows, float *v, long vs, long ld) {
    const int TY = (Ho + 1) / 2, TX = (Wo + 1) / 2;
    float *stage = TX <= NARROW_TILES ? (float *)calloc((size_t)input_stage_floats(TY, TX), sizeof(float)) : NULL;
    if (TX <= NARROW_TILES && stage == NULL) {
        // Out of memory for a few KB: the wide path needs no staging and gives the same values.
        input_tiles_wide(x, C, H, W, ph, pw, TY, TX, firstRow, rows, v, vs, ld);
        return;
    }
    input_tiles(x, C, H, W, ph, pw, TY, TX, firstRow, rows, v, vs, ld, stage);
    free(stage);
}

void engine_winograd_gradient_tiles(const float *g, int O, int Ho, int Wo, long firstRow, long rows, float *gh, long vs,
                                    long ld) {
    gradient_tiles(g, O, Ho, Wo, (Ho + 1) / 2, (Wo + 1) / 2, firstRow, rows, gh, vs, ld);
}

long engine_winograd_weight_grad_scratch_floats(int C, int O, int Ho, int Wo, int groupImages, int tile) {
    return wg_dw_scratch_layout(C, O, Ho, Wo, groupImages, tile).total;
}

void engine_winograd_weight_grad_images(const float *x, const float *g, int n, int C, int H, int W, int ph, int pw,
                                        int O, int Ho, int Wo, int groupImages, int tile, float *du, float *scratch) {
    weight_grad_images(x, g, n, C, H, W, ph, pw, O, Ho, Wo, groupImages, tile, du, scratch);
}

// U = G g Gᵀ for blocks of four output x four input channels at once: lane 4*ci + oi holds pair
// (o0 + oi, c0 + ci), which is exactly where it goes in the packed [C][4] layout, so each result is
// one contiguous store. The nine taps are gathered (pairs are 9 floats apart or more).

// G applied to one column (g0, g1, g2) of a kernel, for F(2x2) (4 rows) or F(4x4) (6 rows).
AVX512 static INLINE void g_column(int tile, __m512 g0, __m512 g1, __m512 g2, __m512 *a) {
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 sum = _mm512_add_ps(g0, g2);
    if (tile == 2) {
        a[0] = g0;
        a[1] = _mm512_mul_ps(half, _mm512_add_ps(sum, g1));
        a[2] = _mm512_mul_ps(half, _mm512_sub_ps(sum, g1));
        a[3] = g2;
        return;
    }
    const __m512 sixth = _mm512_set1_ps(1.0f / 6), quarter = _mm512_set1_ps(0.25f);
    const __m512 twelfth = _mm512_set1_ps(1.0f / 12), twentyfourth = _mm512_set1_ps(1.0f / 24);
    a[0] = _mm512_mul_ps(quarter, g0);
    a[1] = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), sixth), _mm512_add_ps(sum, g1));
    a[2] = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), sixth), _mm512_sub_ps(sum, g1));
    __m512 even = _mm512_fmadd_ps(twentyfourth, g0, _mm512_mul_ps(sixth, g2)), odd = _mm512_mul_ps(twelfth, g1);
    a[3] = _mm512_add_ps(even, odd);
    a[4] = _mm512_sub_ps(even, odd);
    a[5] = g2;
}

AVX512 static void pack_weights_avx512(const float *w, int O, long os, int C, long cs, int flip, int tile, int b0,
                                       int b1, float *u) {
    const long us = engine_winograd_weight_stride(O, C);
    const int n = tile + 2;
    int lane_o[16], lane_c[16], idx[16];
    for (int l = 0; l < 16; l++) { lane_o[l] = l % 4; lane_c[l] = l / 4; idx[l] = (int)(lane_o[l] * os + lane_c[l] * cs); }
    const __m512i vindex = _mm512_loadu_si512(idx);
    for (int b = b0; b < b1; b++) {
        const int o0 = 4 * b;
        // Lanes of real output channels; near the end of C also only lanes of real input channels
        // (`inside`: lanes that belong to this block's [C][4] rows).
        __mmask16 rows = 0;
        for (int l = 0; l < 16; l++)
            if (o0 + lane_o[l] < O) rows |= (__mmask16)(1u << l);
        for (int c0 = 0; c0 < C; c0 += 4) {
            __mmask16 inside = C - c0 >= 4 ? (__mmask16)0xFFFF : (__mmask16)((1u << (4 * (C - c0))) - 1u);
            __mmask16 valid = rows & inside;
            const float *base = w + o0 * os + c0 * cs;
            __m512 g[9];
            for (int t = 0; t < 9; t++)
                g[t] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, vindex, base + (flip ? 8 - t : t), 4);
            __m512 a[3][6];  // columns of G g
            for (int j = 0; j < 3; j++) g_column(tile, g[j], g[3 + j], g[6 + j], a[j]);
            float *dst = u + ((long)b * C + c0) * 4;
            for (int i = 0; i < n; i++) {  // (G g) Gᵀ, row i
                __m512 r[6];
                g_column(tile, a[0][i], a[1][i], a[2][i], r);
                for (int s2 = 0; s2 < n; s2++) _mm512_mask_storeu_ps(dst + (n * i + s2) * us, inside, r[s2]);
            }
        }
    }
}

void engine_winograd_pack_weights(const float *w, int O, long os, int C, long cs, int flip, int tile, int b0, int b1,
                                  float *u) {
    pack_weights_avx512(w, O, os, C, cs, flip, tile, b0, b1, u);
}

#else

// Without AVX-512 `engine_winograd_available` is 0 and the engine never calls the others.
int engine_winograd_available(void) { return 0; }
long engine_winograd_scratch_floats(int C, int O, int Ho, int Wo, int tile, int groupRows) {
    (void)C; (void)O; (void)Ho; (void)Wo; (void)tile; (void)groupRows;
    return 0;
}
void engine_winograd_forward(const float *x, int n, int C, int H, int W, int ph, int pw, const float *u, int O,
                             int Ho, int Wo, const float *scale, const float *shift, const float *residual, int relu,
                             float *y, int tile, int groupRows, int transposed, float *scratch) {
    (void)transposed;
    (void)x; (void)n; (void)C; (void)H; (void)W; (void)ph; (void)pw; (void)u; (void)O; (void)Ho; (void)Wo;
    (void)scale; (void)shift; (void)residual; (void)relu; (void)y; (void)tile; (void)groupRows; (void)scratch;
}
void engine_winograd_pack_weights(const float *w, int O, long os, int C, long cs, int flip, int tile, int b0, int b1,
                                  float *u) {
    (void)w; (void)O; (void)os; (void)C; (void)cs; (void)flip; (void)tile; (void)b0; (void)b1; (void)u;
}
void engine_winograd_input_tiles(const float *x, int C, int H, int W, int ph, int pw, int Ho, int Wo, long firstRow,
                                 long rows, float *v, long vs, long ld) {
    (void)x; (void)C; (void)H; (void)W; (void)ph; (void)pw; (void)Ho; (void)Wo; (void)firstRow; (void)rows;
    (void)v; (void)vs; (void)ld;
}
void engine_winograd_gradient_tiles(const float *g, int O, int Ho, int Wo, long firstRow, long rows, float *gh, long vs,
                                    long ld) {
    (void)g; (void)O; (void)Ho; (void)Wo; (void)firstRow; (void)rows; (void)gh; (void)vs; (void)ld;
}

long engine_winograd_weight_grad_scratch_floats(int C, int O, int Ho, int Wo, int groupImages, int tile) {
    (void)C; (void)O; (void)Ho; (void)Wo; (void)groupImages; (void)tile;
    return 0;
}
void engine_winograd_weight_grad_images(const float *x, const float *g, int n, int C, int H, int W, int ph, int pw,
                                        int O, int Ho, int Wo, int groupImages, int tile, float *du, float *scratch) {
    (void)x; (void)g; (void)n; (void)C; (void)H; (void)W; (void)ph; (void)pw; (void)O; (void)Ho; (void)Wo;
    (void)groupImages; (void)tile; (void)du; (void)scratch;
}

#endif

// The weight gradient's back-transform runs once per call over O*C pairs, not per tile: plain C.

// `blocked`: du is [16][(O+15)/16][C][16] (engine_winograd_weight_grad_images), else [16][O][C].
static void weight_grad_finish(const float *du, long ps, int O, int C, int o0, int o1, int blocked, float *dw) {
    for (int o = o0; o < o1; o++) {
        for (int c = 0; c < C; c++) {
            const float *src = blocked ? du + ((long)(o / 16) * C + c) * 16 + o % 16 : du + (long)o * C + c;
            float t[3][4];  // Gᵀ dU
            for (int s = 0; s < 4; s++) {
                float x0 = src[(0 + s) * ps], x1 = src[(4 + s) * ps], x2 = src[(8 + s) * ps], x3 = src[(12 + s) * ps];
                t[0][s] = x0 + 0.5f * (x1 + x2);
                t[1][s] = 0.5f * (x1 - x2);
                t[2][s] = 0.5f * (x1 + x2) + x3;
            }
            float *dst = dw + ((long)o * C + c) * 9;
            for (int k = 0; k < 3; k++) {  // (Gᵀ dU) G
                dst[3 * k + 0] = t[k][0] + 0.5f * (t[k][1] + t[k][2]);
                dst[3 * k + 1] = 0.5f * (t[k][1] - t[k][2]);
                dst[3 * k + 2] = 0.5f * (t[k][1] + t[k][2]) + t[k][3];
            }
        }
    }
}

void engine_winograd_weight_grad_finish(const float *du, long ps, int O, int C, int o0, int o1, float *dw) {
    weight_grad_finish(du, ps, O, C, o0, o1, 0, dw);
}

// dW = Gᵀ dU G for F(4x4) sums (blocked as above, 36 matrices; G as in g_column), 16 output
// channels per vector: the 36 sums of a pair lie 16 KB and more apart, so a pair at a time read a
// cache line per sum (5.7% of a 64-channel 7x7 layer's time, serial). Compiled for AVX-512 (only
// Winograd calls it, which runs on AVX-512 CPUs only): for baseline x86-64 every fmaf was a call
// into libm, 2.6k per pair, which made a 64-channel layer's finish cost as much as its products.
#if defined(__x86_64__)
AVX512
#endif
static void weight_grad_finish4(const float *du, long ps, int O, int C, float *dw) {
    static const float G[6][3] = {{1.0f / 4, 0, 0},
                                  {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                  {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                  {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                  {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                  {0, 0, 1}};
    for (int ob = 0; ob < (O + 15) / 16; ob++) {
        for (int c = 0; c < C; c++) {
            const float *src = du + ((long)ob * C + c) * 16;
            float t[3][6][16], out[9][16];  // Gᵀ dU, then (Gᵀ dU) G, per lane
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < 6; j++)
                    for (int l = 0; l < 16; l++) {
                        float sum = 0;
                        for (int i = 0; i < 6; i++) sum = fmaf(G[i][k], src[(6 * i + j) * ps + l], sum);
                        t[k][j][l] = sum;
                    }
            for (int k = 0; k < 3; k++)
                for (int m = 0; m < 3; m++)
                    for (int l = 0; l < 16; l++) {
                        float sum = 0;
                        for (int j = 0; j < 6; j++) sum = fmaf(t[k][j][l], G[j][m], sum);
                        out[3 * k + m][l] = sum;
                    }
            for (int l = 0; l < 16 && 16 * ob + l < O; l++)
                for (int e = 0; e < 9; e++) dw[((long)(16 * ob + l) * C + c) * 9 + e] = out[e][l];
        }
    }
}

void engine_winograd_weight_grad_finish_blocked(const float *du, int O, int C, int tile, float *dw) {
    const long ps = (long)(O + 15) / 16 * C * 16;
    if (tile == 4) weight_grad_finish4(du, ps, O, C, dw);
    else weight_grad_finish(du, ps, O, C, 0, O, 1, dw);
}
