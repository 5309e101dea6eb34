// A lesson or exercise program that traps in optimized code (the engine's own checks, built -O)
// gets no stack trace from the Swift runtime, so the runner could not tell which statement of the
// cell called the engine. Under the runner (WORKBOOK_OUTPUT_FD set) this constructor installs a
// handler for the crash signals that prints the stack in the runtime's own format
// ("N  module  0xADDR  <unavailable> + OFFSET"), which the runner symbolizes
// (Sources/Notebook/TrapLocation.swift), then re-raises the signal so the program dies as before.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char executable_name[256];
// The stack of the latest `throw`, recorded by the runtime's will-throw hook: an error that reaches
// top level traps in the program's shared error block, which has no line, so the runner reads
// the throwing statement from here.
static void *thrown_frames[64];
static volatile int thrown_count;

typedef void (*will_throw_hook)(void *unused __attribute__((swift_context)),
                                void **error __attribute__((swift_error_result))) __attribute__((swiftcall));
extern _Atomic(will_throw_hook) _swift_willThrow __attribute__((weak));

__attribute__((swiftcall))
static void record_throw(void *unused __attribute__((swift_context)),
                         void **error __attribute__((swift_error_result))) {
    (void)unused; (void)error;
    thrown_count = 0;
    thrown_count = backtrace(thrown_frames, 64);
}
static char alternate_stack[64 * 1024];

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void write_frames(const char *header, void **frames, int count) {
    char line[512];
    int length = snprintf(line, sizeof line, "%s\n", header);
    if (write(STDERR_FILENO, line, (size_t)length) < 0) return;
    for (int i = 0; i < count; i++) {
        Dl_info where;
        const char *module = executable_name;
        unsigned long offset = 0;
        if (dladdr(frames[i], &where) != 0 && where.dli_fbase != NULL) {
            if (where.dli_fname != NULL && where.dli_fname[0] != '\0') module = base_name(where.dli_fname);
            offset = (unsigned long)((char *)frames[i] - (char *)where.dli_fbase);
        }
        length = snprintf(line, sizeof line, "%-4d %-34s 0x%016lx <unavailable> + %lu\n",
                          i, module, (unsigned long)frames[i], offset);
        if (length > 0 && write(STDERR_FILENO, line, (size_t)length) < 0) break;
    }
}

static void report_trap(int signal_number, siginfo_t *info, void *context) {
    (void)info; (void)context;
    void *frames[64];
    write_frames("Current stack trace:", frames, backtrace(frames, 64));
    if (thrown_count > 0) write_frames("Error thrown at:", thrown_frames, thrown_count);
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

__attribute__((constructor))
static void engine_install_trap_report(void) {
    if (getenv("WORKBOOK_OUTPUT_FD") == NULL) return;
    ssize_t n = readlink("/proc/self/exe", executable_name, sizeof executable_name - 1);
    if (n > 0) {
        executable_name[n] = '\0';
        memmove(executable_name, base_name(executable_name), strlen(base_name(executable_name)) + 1);
    } else {
        strcpy(executable_name, "?");
    }
    // backtrace() loads libgcc on first use, which allocates: do it now, not in the handler.
    void *warm[1];
    backtrace(warm, 1);
    // A stack overflow leaves no stack for the handler: give it its own.
    stack_t stack = {.ss_sp = alternate_stack, .ss_size = sizeof alternate_stack, .ss_flags = 0};
    sigaltstack(&stack, NULL);
    if (&_swift_willThrow != NULL) _swift_willThrow = record_throw;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = report_trap;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    int signals[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE};
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &action, NULL);
}
