// The per-output-channel map a convolution applies as it writes its output:
// y = acc * scale[o] + shift[o] (scale 1 and shift 0 when absent), plus a residual tensor when
// given, then ReLU when asked.
// A bias is a shift alone; an eval-mode batch norm folded into the convolution is both.
#ifndef ENGINE_EPILOGUE_H
#define ENGINE_EPILOGUE_H

#include "avx512.h"

#if defined(__x86_64__)

typedef struct {
    __m512 scale, shift;
    int relu;
    // A tensor laid out like the output, added before the ReLU (a ResNet block's shortcut), or NULL;
    // `y` is the output it lines up with.
    const float *residual;
    const float *y;
} channel_epilogue;

AVX512 static INLINE channel_epilogue epilogue_for(const float *scale, const float *shift, const float *residual,
                                                  int relu, const float *y, long o) {
    channel_epilogue e;
    e.scale = _mm512_set1_ps(scale ? scale[o] : 1.0f);
    e.shift = _mm512_set1_ps(shift ? shift[o] : 0.0f);
    e.relu = relu;
    e.residual = residual;
    e.y = y;
    return e;
}

// acc * 1 + b rounds exactly like acc + b, so a plain bias gives the same bits as an add.
AVX512 static INLINE __m512 apply_affine(channel_epilogue e, __m512 v) {
    return _mm512_fmadd_ps(v, e.scale, e.shift);
}

// Stores the lanes `m` of an affine-mapped output vector at `dst` (inside `e.y`), after adding the
// residual at the same place and applying the ReLU.
AVX512 static INLINE void store_output(channel_epilogue e, float *dst, __mmask16 m, __m512 v) {
    if (e.residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e.residual + (dst - e.y)));
    if (e.relu) v = relu_ps(v);
    _mm512_mask_storeu_ps(dst, m, v);
}

#endif
#endif
