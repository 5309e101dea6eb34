// What every AVX-512 kernel file of the engine shares: the target attribute its functions carry
// (the rest of the package builds for baseline x86-64 and checks the CPU at run time), lane masks,
// and the ReLU of the engine's `relu`.
#ifndef ENGINE_AVX512_H
#define ENGINE_AVX512_H

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define INLINE inline __attribute__((always_inline))

// Asks for the `floats` floats from `p` on to be brought into L1: for runs too short for the
// hardware prefetcher to pick up in time.
static INLINE void prefetch_floats(const float *p, long floats) {
    for (long i = 0; i < floats; i += 16) _mm_prefetch((const char *)(p + i), _MM_HINT_T0);
}

// Lanes lo ..< hi of a 16-lane vector (clamped to 0 ..< 16; none when hi <= lo).
AVX512 static INLINE __mmask16 lane_range(long lo, long hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// The first `count` lanes: a run's last, partial vector.
AVX512 static INLINE __mmask16 lanes(long count) { return lane_range(0, count); }

// Permute indices picking the even and the odd lanes of two vectors (a, b) as one.
AVX512 static INLINE __m512i index_even(void) {
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
AVX512 static INLINE __m512i index_odd(void) {
    return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// Permute index moving every lane down by one (lane 15 kept): a vector's next lane.
AVX512 static INLINE __m512i index_next(void) {
    return _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15);
}

// Permute indices interleaving the first (lo) or last (hi) eight lanes of two vectors (a, b):
// a0 b0 a1 b1 ...
AVX512 static INLINE __m512i index_interleave_lo(void) {
    return _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
AVX512 static INLINE __m512i index_interleave_hi(void) {
    return _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

// max(v, 0) with NaN giving 0, as the engine's `relu` (Torch/UnaryMath.swift) does: every fused
// ReLU must agree with it, or a folded layer would differ from the layers it replaces.
AVX512 static INLINE __m512 relu_ps(__m512 v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }

#endif
#endif
