// OpenBLAS reads OPENBLAS_CORETYPE once, in its own constructor, which runs before any Swift code.
// Debian's build picks AVX2 ("Haswell") kernels on AVX-512 CPUs it does not know (Zen 4/5), about
// half the sgemm speed. So when the variable is unset and the CPU has AVX-512, this constructor sets
// it and re-executes the same program: the second load of OpenBLAS sees it. glibc passes
// argc/argv/envp to ELF constructors, which is what makes the re-exec possible before main().
#define _GNU_SOURCE
#include "CEngineSupport.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *selected = "";

int engine_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

const char *engine_openblas_coretype(void) { return selected; }

__attribute__((constructor))
static void engine_select_openblas_kernels(int argc, char **argv, char **envp) {
    (void)argc; (void)envp;
    const char *current = getenv("OPENBLAS_CORETYPE");
    if (current != NULL) { selected = current; return; }
    if (getenv("WORKBOOK_NO_AVX512") != NULL || !engine_cpu_has_avx512()) return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) return;
    if (argv != NULL) {
        execv("/proc/self/exe", argv);
    }
    // exec failed (no /proc, say): carry on with the kernels OpenBLAS already chose.
    unsetenv("OPENBLAS_CORETYPE");
}
