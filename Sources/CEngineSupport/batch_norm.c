// Per-channel loops of batch normalization (Torch/BatchNorm.swift), for a channel stored as
// `images` runs of `s` floats, `stride` floats apart. The Swift versions ran on 8-lane vectors
// without FMA (Swift targets baseline x86-64); these use 16 lanes and FMA when the CPU has
// AVX-512 and fall back to scalar loops otherwise.
//
// A fused ReLU's mask is fma(x, maskScale, maskShift) (+ the residual, when one was added) > 0
// everywhere, the exact value the forward pass wrote before clamping, so forward and backward agree
// bit for bit on every machine. Each run is summed in float lanes in a fixed order and added to a
// double total, so results depend only on the shape.
#include "CEngineSupport.h"
#include "avx512.h"
#include <math.h>

static int scalar_only = 0;

void engine_batch_norm_use_scalar_loops(int on) { scalar_only = on; }

static void stats_scalar(const float *x, long images, long stride, long s, float k, double *sum, double *squares) {
    for (long i = 0; i < images; i++) {
        const float *p = x + i * stride;
        float a = 0, b = 0;
        for (long j = 0; j < s; j++) { float d = p[j] - k; a += d; b = fmaf(d, d, b); }
        *sum += a; *squares += b;
    }
}

// fma(x, a, b) plus the residual r at t, if any.
static inline float affine_at(const float *x, const float *r, long t, float a, float b) {
    float v = fmaf(x[t], a, b);
    return r ? v + r[t] : v;
}

static void affine_scalar(const float *x, const float *r, float *y, long images, long stride, long s, float a,
                          float b, int relu) {
    for (long i = 0; i < images; i++)
        for (long j = 0; j < s; j++) {
            float v = affine_at(x, r, i * stride + j, a, b);
            y[i * stride + j] = relu && !(v > 0) ? 0 : v;
        }
}

static inline float masked(float g, float x, float a, float b, int relu) {
    return relu && !(fmaf(x, a, b) > 0) ? 0 : g;
}

static void gradient_sums_scalar(const float *g, const float *x, const float *r, float *gm, long images, long stride,
                                 long s, float mean, float a, float b, int relu, double *sumG, double *sumGX) {
    for (long i = 0; i < images; i++) {
        float s0 = 0, s1 = 0;
        for (long j = 0; j < s; j++) {
            const long t = i * stride + j;
            float gi = relu && !(affine_at(x, r, t, a, b) > 0) ? 0 : g[t];
            if (gm) gm[t] = gi;
            s0 += gi; s1 = fmaf(gi, x[t] - mean, s1);
        }
        *sumG += s0; *sumGX += s1;
    }
}

static void input_gradient_scalar(const float *g, const float *x, float *o, long images, long stride, long s,
                                  float gain, float meanG, float mean, float k, float a, float b, int relu) {
    for (long i = 0; i < images; i++)
        for (long j = 0; j < s; j++) {
            long t = i * stride + j;
            float gi = masked(g[t], x[t], a, b, relu);
            o[t] = gain * fmaf(-(x[t] - mean), k, gi - meanG);
        }
}

static void scaled_gradient_scalar(const float *g, const float *x, float *o, long images, long stride, long s,
                                   float gain, float a, float b, int relu) {
    for (long i = 0; i < images; i++)
        for (long j = 0; j < s; j++) {
            long t = i * stride + j;
            o[t] = gain * masked(g[t], x[t], a, b, relu);
        }
}

#if defined(__x86_64__)

// A channel is `images` short runs far apart (a 28x28 plane is 49 cache lines, the next one a
// whole image further on), too short for the hardware prefetcher to pick each one up in time: the
// next image's run is asked for while this one is worked on. Long runs are left to the hardware.
static INLINE void prefetch_next_run(const float *run, long i, long images, long stride, long s) {
    if (i + 1 < images && s <= 4096 && run != NULL) prefetch_floats(run + stride, s);
}

// g where fma(x, a, b) > 0, else 0 (when relu).
AVX512 static INLINE __m512 mask_gradient(__m512 g, __m512 x, __m512 a, __m512 b, int relu) {
    if (!relu) return g;
    __mmask16 positive = _mm512_cmp_ps_mask(_mm512_fmadd_ps(x, a, b), _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_mov_ps(positive, g);
}

AVX512 static void stats_avx512(const float *x, long images, long stride, long s, float k, double *sum,
                                double *squares) {
    const __m512 kv = _mm512_set1_ps(k);
    for (long i = 0; i < images; i++) {
        const float *p = x + i * stride;
        prefetch_next_run(p, i, images, stride, s);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
        long j = 0;
        for (; j + 32 <= s; j += 32) {
            __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(p + j), kv), d1 = _mm512_sub_ps(_mm512_loadu_ps(p + j + 16), kv);
            s0 = _mm512_add_ps(s0, d0); s1 = _mm512_add_ps(s1, d1);
            q0 = _mm512_fmadd_ps(d0, d0, q0); q1 = _mm512_fmadd_ps(d1, d1, q1);
        }
        for (; j < s; j += 16) {
            __mmask16 m = lanes(s - j);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + j), kv);
            s0 = _mm512_add_ps(s0, d); q0 = _mm512_fmadd_ps(d, d, q0);
        }
        *sum += _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        *squares += _mm512_reduce_add_ps(_mm512_add_ps(q0, q1));
    }
}

// fma(x, a, b) at the lanes m of x + t, plus the residual there when r is given.
AVX512 static INLINE __m512 affine_ps(__m512 x, const float *r, long t, __mmask16 m, __m512 a, __m512 b) {
    __m512 v = _mm512_fmadd_ps(x, a, b);
    return r ? _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, r + t)) : v;
}

AVX512 static void affine_avx512(const float *x, const float *r, float *y, long images, long stride, long s, float a,
                                 float b, int relu) {
    const __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
    for (long i = 0; i < images; i++) {
        const float *p = x + i * stride;
        float *q = y + i * stride;
        prefetch_next_run(p, i, images, stride, s);
        prefetch_next_run(r ? r + i * stride : NULL, i, images, stride, s);
        for (long j = 0; j < s; j += 16) {
            __mmask16 m = lanes(s - j);
            __m512 v = affine_ps(_mm512_maskz_loadu_ps(m, p + j), r, i * stride + j, m, av, bv);
            if (relu) v = relu_ps(v);
            _mm512_mask_storeu_ps(q + j, m, v);
        }
    }
}

// The ReLU after an added residual r: the mask is fma(x, a, b) + r > 0, and the masked gradient
// is also written to gm (the residual's own gradient) in the same pass.
AVX512 static void gradient_sums_residual(const float *g, const float *x, const float *r, float *gm, long images,
                                          long stride, long s, float mean, float a, float b, double *sumG,
                                          double *sumGX) {
    const __m512 mv = _mm512_set1_ps(mean), av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b), zero = _mm512_setzero_ps();
    for (long i = 0; i < images; i++) {
        prefetch_next_run(g + i * stride, i, images, stride, s);
        prefetch_next_run(x + i * stride, i, images, stride, s);
        prefetch_next_run(r + i * stride, i, images, stride, s);
        __m512 s0 = zero, t0 = zero;
        for (long j = 0; j < s; j += 16) {
            const long t = i * stride + j;
            const __mmask16 m = lanes(s - j);
            const __m512 x0 = _mm512_maskz_loadu_ps(m, x + t);
            const __mmask16 positive = _mm512_mask_cmp_ps_mask(m, affine_ps(x0, r, t, m, av, bv), zero, _CMP_GT_OQ);
            const __m512 g0 = _mm512_maskz_loadu_ps(positive, g + t);
            _mm512_mask_storeu_ps(gm + t, m, g0);
            s0 = _mm512_add_ps(s0, g0); t0 = _mm512_fmadd_ps(g0, _mm512_sub_ps(x0, mv), t0);
        }
        *sumG += _mm512_reduce_add_ps(s0);
        *sumGX += _mm512_reduce_add_ps(t0);
    }
}

AVX512 static void gradient_sums_avx512(const float *g, const float *x, long images, long stride, long s,
                                        float mean, float a, float b, int relu, double *sumG, double *sumGX) {
    const __m512 mv = _mm512_set1_ps(mean), av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
    for (long i = 0; i < images; i++) {
        const float *gp = g + i * stride, *xp = x + i * stride;
        prefetch_next_run(gp, i, images, stride, s);
        prefetch_next_run(xp, i, images, stride, s);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
        long j = 0;
        for (; j + 32 <= s; j += 32) {
            __m512 x0 = _mm512_loadu_ps(xp + j), x1 = _mm512_loadu_ps(xp + j + 16);
            __m512 g0 = mask_gradient(_mm512_loadu_ps(gp + j), x0, av, bv, relu);
            __m512 g1 = mask_gradient(_mm512_loadu_ps(gp + j + 16), x1, av, bv, relu);
            s0 = _mm512_add_ps(s0, g0); s1 = _mm512_add_ps(s1, g1);
            t0 = _mm512_fmadd_ps(g0, _mm512_sub_ps(x0, mv), t0); t1 = _mm512_fmadd_ps(g1, _mm512_sub_ps(x1, mv), t1);
        }
        for (; j < s; j += 16) {
            __mmask16 m = lanes(s - j);
            __m512 x0 = _mm512_maskz_loadu_ps(m, xp + j);
            __m512 g0 = mask_gradient(_mm512_maskz_loadu_ps(m, gp + j), x0, av, bv, relu);
            s0 = _mm512_add_ps(s0, g0); t0 = _mm512_fmadd_ps(g0, _mm512_sub_ps(x0, mv), t0);
        }
        *sumG += _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        *sumGX += _mm512_reduce_add_ps(_mm512_add_ps(t0, t1));
    }
}

AVX512 static void input_gradient_avx512(const float *g, const float *x, float *o, long images, long stride, long s,
                                         float gain, float meanG, float mean, float k, float a, float b, int relu) {
    const __m512 gv = _mm512_set1_ps(gain), mg = _mm512_set1_ps(meanG), mv = _mm512_set1_ps(mean);
    const __m512 kv = _mm512_set1_ps(-k), av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
    for (long i = 0; i < images; i++) {
        const float *gp = g + i * stride, *xp = x + i * stride;
        float *op = o + i * stride;
        prefetch_next_run(gp, i, images, stride, s);
        prefetch_next_run(xp, i, images, stride, s);
        for (long j = 0; j < s; j += 16) {
            __mmask16 m = lanes(s - j);
            __m512 x0 = _mm512_maskz_loadu_ps(m, xp + j);
            __m512 g0 = mask_gradient(_mm512_maskz_loadu_ps(m, gp + j), x0, av, bv, relu);
            __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(x0, mv), kv, _mm512_sub_ps(g0, mg));
            _mm512_mask_storeu_ps(op + j, m, _mm512_mul_ps(gv, v));
        }
    }
}

AVX512 static void scaled_gradient_avx512(const float *g, const float *x, float *o, long images, long stride, long s,
                                          float gain, float a, float b, int relu) {
    const __m512 gv = _mm512_set1_ps(gain), av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
    for (long i = 0; i < images; i++) {
        const float *gp = g + i * stride, *xp = x + i * stride;
        float *op = o + i * stride;
        prefetch_next_run(gp, i, images, stride, s);
        prefetch_next_run(xp, i, images, stride, s);
        for (long j = 0; j < s; j += 16) {
            __mmask16 m = lanes(s - j);
            __m512 g0 = mask_gradient(_mm512_maskz_loadu_ps(m, gp + j), _mm512_maskz_loadu_ps(m, xp + j), av, bv, relu);
            _mm512_mask_storeu_ps(op + j, m, _mm512_mul_ps(gv, g0));
        }
    }
}

#define DISPATCH(avx512_call, scalar_call) \
    if (!scalar_only && engine_cpu_has_avx512()) avx512_call; else scalar_call;
#else
#define DISPATCH(avx512_call, scalar_call) (void)scalar_only; scalar_call;
#endif

void engine_batch_norm_stats(const float *x, long images, long stride, long s, float k, double *sum, double *squares) {
    DISPATCH(stats_avx512(x, images, stride, s, k, sum, squares), stats_scalar(x, images, stride, s, k, sum, squares))
}

void engine_batch_norm_affine(const float *x, const float *residual, float *y, long images, long stride, long s,
                              float a, float b, int relu) {
    DISPATCH(affine_avx512(x, residual, y, images, stride, s, a, b, relu),
             affine_scalar(x, residual, y, images, stride, s, a, b, relu))
}

void engine_batch_norm_gradient_sums(const float *g, const float *x, long images, long stride, long s, float mean,
                                     float maskScale, float maskShift, int relu, double *sumG, double *sumGX) {
    DISPATCH(gradient_sums_avx512(g, x, images, stride, s, mean, maskScale, maskShift, relu, sumG, sumGX),
             gradient_sums_scalar(g, x, NULL, NULL, images, stride, s, mean, maskScale, maskShift, relu, sumG, sumGX))
}

void engine_batch_norm_residual_gradient_sums(const float *g, const float *x, const float *residual, float *masked,
                                              long images, long stride, long s, float mean, float maskScale,
                                              float maskShift, double *sumG, double *sumGX) {
    DISPATCH(gradient_sums_residual(g, x, residual, masked, images, stride, s, mean, maskScale, maskShift, sumG, sumGX),
             gradient_sums_scalar(g, x, residual, masked, images, stride, s, mean, maskScale, maskShift, 1, sumG,
                                  sumGX))
}

void engine_batch_norm_input_gradient(const float *g, const float *x, float *o, long images, long stride, long s,
                                      float gain, float meanG, float mean, float k, float maskScale, float maskShift,
                                      int relu) {
    DISPATCH(input_gradient_avx512(g, x, o, images, stride, s, gain, meanG, mean, k, maskScale, maskShift, relu),
             input_gradient_scalar(g, x, o, images, stride, s, gain, meanG, mean, k, maskScale, maskShift, relu))
}

void engine_batch_norm_scaled_gradient(const float *g, const float *x, float *o, long images, long stride, long s,
                                       float gain, float maskScale, float maskShift, int relu) {
    DISPATCH(scaled_gradient_avx512(g, x, o, images, stride, s, gain, maskScale, maskShift, relu),
             scaled_gradient_scalar(g, x, o, images, stride, s, gain, maskScale, maskShift, relu))
}
