// The per-output-channel map a convolution applies as it writes its output:
// y = acc * scale[o] + shift[o] (scale 1 and shift 0 when absent), then ReLU when asked.
// A bias is a shift alone; an eval-mode batch norm folded into the convolution is both.
#ifndef ENGINE_EPILOGUE_H
#define ENGINE_EPILOGUE_H

#if defined(__x86_64__)
#include <immintrin.h>

typedef struct {
    __m512 scale, shift;
    int relu;
} channel_epilogue;

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) channel_epilogue
epilogue_for(const float *scale, const float *shift, int relu, long o) {
    channel_epilogue e;
    e.scale = _mm512_set1_ps(scale ? scale[o] : 1.0f);
    e.shift = _mm512_set1_ps(shift ? shift[o] : 0.0f);
    e.relu = relu;
    return e;
}

// acc * 1 + b rounds exactly like acc + b, so a plain bias gives the same bits as an add.
// max(0, v) returns v when v is NaN, as PyTorch's relu does.
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) __m512
apply_epilogue(channel_epilogue e, __m512 v) {
    v = _mm512_fmadd_ps(v, e.scale, e.shift);
    return e.relu ? _mm512_max_ps(_mm512_setzero_ps(), v) : v;
}

#endif
#endif
