// AVX-512 max pooling of one plane (dilation 1), used by Torch/Pooling.swift. The window rows of
// an output row are first reduced column by column into a padded row buffer; each output then
// reduces its `kw` columns of that buffer, sixteen outputs per vector. The Swift code this
// replaces ran the column step one output at a time, which made ResNet's stem pooling cost
// several times its memory traffic.
//
// NaN semantics follow PyTorch: a NaN anywhere in a window gives NaN, and with indices the
// first maximum in row-major window order wins (smallest row, then smallest column).
#include "CEngineSupport.h"
#include "avx512.h"
#include <math.h>
#include <stdint.h>

#if defined(__x86_64__)

static const int32_t never_row = INT32_MAX;  // a padding column's row: never wins a tie

AVX512 static INLINE __mmask16 is_nan(__m512 v) { return _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); }

// Lanes ow0 .. ow0 + 15 of buffer[ow * sw + k] (the buffer has slack for the overread).
AVX512 static INLINE __m512 strided(const float *buffer, long ow0, int sw, int k) {
    const float *p = buffer + ow0 * sw + k;
    if (sw == 1) return _mm512_loadu_ps(p);
    if (sw == 2) return _mm512_permutex2var_ps(_mm512_loadu_ps(p), index_even(), _mm512_loadu_ps(p + 16));
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_i32gather_ps(_mm512_mullo_epi32(lane, _mm512_set1_epi32(sw)), p, 4);
}

AVX512 static INLINE __m512i strided_rows(const int32_t *buffer, long ow0, int sw, int k) {
    return _mm512_castps_si512(strided((const float *)buffer, ow0, sw, k));
}

long engine_max_pool_scratch_floats(int W, int kw, int sw, int pw, int Wo) {
    long padded = (long)W + 2L * pw, reach = (long)(Wo - 1) * sw + kw;
    if (reach > padded) padded = reach;
    // Row maxima and their rows, each with slack for the last vector's overread.
    long slack = 32L * (sw > 2 ? sw : 2);
    return 2 * (padded + slack);
}

AVX512 void engine_max_pool_plane(const float *x, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                                  int Ho, int Wo, float *y, int *idx, float *scratch) {
    long padded = (long)W + 2L * pw, reach = (long)(Wo - 1) * sw + kw;
    if (reach > padded) padded = reach;
    long slack = 32L * (sw > 2 ? sw : 2), span = padded + slack;
    float *rowMax = scratch;
    int32_t *rowArg = (int32_t *)(scratch + span);
    const __m512 minusInf = _mm512_set1_ps(-INFINITY);
    for (long i = 0; i < span; i += 16) {
        __mmask16 m = lanes(span - i);
        _mm512_mask_storeu_ps(rowMax + i, m, minusInf);
        _mm512_mask_storeu_epi32(rowArg + i, m, _mm512_set1_epi32(never_row));
    }
    float *row = rowMax + pw;
    int32_t *arg = rowArg + pw;
    for (int oh = 0; oh < Ho; oh++) {
        int h0 = oh * sh - ph, lo = h0 < 0 ? 0 : h0, hi = h0 + kh < H ? h0 + kh : H;
        float *out = y + (long)oh * Wo;
        int *outIdx = idx ? idx + (long)oh * Wo : 0;
        if (lo >= hi) {
            for (int ow = 0; ow < Wo; ow++) {
                out[ow] = -INFINITY;
                if (outIdx) outIdx[ow] = -1;
            }
            continue;
        }
        // Column maxima of the window rows (and, with indices, the first row reaching each).
        for (long j = 0; j < W; j += 16) {
            __mmask16 m = lanes(W - j);
            __m512 best = _mm512_maskz_loadu_ps(m, x + (long)lo * W + j);
            __m512i bestR = _mm512_set1_epi32(lo);
            for (int r = lo + 1; r < hi; r++) {
                __m512 v = _mm512_maskz_loadu_ps(m, x + (long)r * W + j);
                __mmask16 wins = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | (is_nan(v) & ~is_nan(best));
                best = _mm512_mask_blend_ps(wins, best, v);
                bestR = _mm512_mask_blend_epi32(wins, bestR, _mm512_set1_epi32(r));
            }
            _mm512_mask_storeu_ps(row + j, m, best);
            if (outIdx) _mm512_mask_storeu_epi32(arg + j, m, bestR);
        }
        // Each output's best column, sixteen outputs at a time.
        for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
            __mmask16 m = lanes(Wo - ow0);
            __m512 best = strided(rowMax, ow0, sw, 0);
            if (!outIdx) {
                for (int k = 1; k < kw; k++) {
                    __m512 v = strided(rowMax, ow0, sw, k);
                    best = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | is_nan(v), best, v);
                }
                _mm512_mask_storeu_ps(out + ow0, m, best);
                continue;
            }
            __m512i bestR = strided_rows(rowArg, ow0, sw, 0), bestK = _mm512_setzero_si512();
            for (int k = 1; k < kw; k++) {
                __m512 v = strided(rowMax, ow0, sw, k);
                __m512i r = strided_rows(rowArg, ow0, sw, k);
                __mmask16 earlier = _mm512_cmpgt_epi32_mask(bestR, r);
                __mmask16 bestNaN = is_nan(best), vNaN = is_nan(v);
                __mmask16 take = (bestNaN & vNaN & earlier) |
                                 (~bestNaN & (vNaN | _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                                              (_mm512_cmp_ps_mask(v, best, _CMP_EQ_OQ) & earlier)));
                best = _mm512_mask_blend_ps(take, best, v);
                bestR = _mm512_mask_blend_epi32(take, bestR, r);
                bestK = _mm512_mask_blend_epi32(take, bestK, _mm512_set1_epi32(k));
            }
            _mm512_mask_storeu_ps(out + ow0, m, best);
            // flat index = row * W + column, column = ow * sw + k - pw; -1 for an all-padding window.
            const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
            __m512i column = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)ow0)),
                                                                 _mm512_set1_epi32(sw)),
                                              _mm512_sub_epi32(bestK, _mm512_set1_epi32(pw)));
            __m512i flat = _mm512_add_epi32(_mm512_mullo_epi32(bestR, _mm512_set1_epi32(W)), column);
            __mmask16 padding = _mm512_cmpeq_epi32_mask(bestR, _mm512_set1_epi32(never_row));
            flat = _mm512_mask_blend_epi32(padding, flat, _mm512_set1_epi32(-1));
            _mm512_mask_storeu_epi32(outIdx + ow0, m, flat);
        }
    }
}

int engine_max_pool_available(void) { return engine_cpu_has_avx512(); }

#else

// Without AVX-512 `engine_max_pool_available` is 0 and Pooling.swift uses its own loops.
long engine_max_pool_scratch_floats(int W, int kw, int sw, int pw, int Wo) {
    (void)W; (void)kw; (void)sw; (void)pw; (void)Wo;
    return 0;
}
void engine_max_pool_plane(const float *x, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                           int Ho, int Wo, float *y, int *idx, float *scratch) {
    (void)x; (void)H; (void)W; (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw; (void)Ho; (void)Wo;
    (void)y; (void)idx; (void)scratch;
}
int engine_max_pool_available(void) { return 0; }

#endif
