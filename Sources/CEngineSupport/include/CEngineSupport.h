#ifndef CENGINESUPPORT_H
#define CENGINESUPPORT_H

/// Which OpenBLAS core type the process selected for itself at load time:
/// "SkylakeX" when this support library re-executed the process with AVX-512 kernels,
/// the user's own OPENBLAS_CORETYPE if one was set, or "" when OpenBLAS chose by itself.
const char *engine_openblas_coretype(void);

/// 1 when the CPU reports AVX-512 F/BW/DQ/VL (what OpenBLAS's SkylakeX kernels use).
int engine_cpu_has_avx512(void);



/// Per-thread autograd switch: 1 records operations, 0 (inside a no-grad scope) does not.
int engine_grad_enabled(void);
void engine_set_grad_enabled(int enabled);
#endif
