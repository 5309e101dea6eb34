// The engine's own thread pool for its data-parallel loops (Torch/Threads.swift). A training step
// of the small ResNet runs about a hundred parallel regions; with Dispatch's concurrentPerform
// every one parked and woke a worker through the kernel, and on this VM a wake-up cost tens of
// microseconds more whenever the host was busy. Here a worker that just finished spins for a
// while (as OpenMP's do) before it sleeps, and the caller spins on the workers' acknowledgements.
//
// Items are claimed in order by whichever thread is free (a job of more items than threads
// balances itself); results must depend on the item, never on the thread. The caller waits until
// every worker has acknowledged the job, which is what makes it safe to overwrite the job's fields
// for the next one.
#define _GNU_SOURCE
#include "CEngineSupport.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define SPIN_PAUSE() _mm_pause()
#else
#define SPIN_PAUSE() ((void)0)
#endif

enum { MAX_WORKERS = 63 };

// How long an idle worker spins before it sleeps, and how long the caller spins on each check
// before it yields its core (ns).
static const long SPIN_NS = 200000, YIELD_AFTER_NS = 1000000;

static struct {
    pthread_mutex_t job_lock;  // one job at a time
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    atomic_int sleepers;
    int workers;  // started, indices 1 ... workers
    atomic_ulong generation;
    engine_pool_task task;
    void *context;
    int count;
    int threads;      // workers below this index take part
    atomic_int next;  // the next item to claim
    atomic_ulong done[MAX_WORKERS + 1];  // the generation each worker last finished
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static _Thread_local int inside_pool_task;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void run_items(void) {
    for (int k; (k = atomic_fetch_add(&pool.next, 1)) < pool.count;) pool.task(pool.context, k);
}

static void *worker_main(void *arg) {
    const int index = (int)(long)arg;
    inside_pool_task = 1;
    // The generation before this worker's first job (a job published before the thread got here
    // must still find it).
    unsigned long seen = atomic_load(&pool.done[index]);
    for (;;) {
        unsigned long current = atomic_load(&pool.generation);
        if (current == seen) {
            const long start = now_ns();
            unsigned spins = 0;
            while ((current = atomic_load(&pool.generation)) == seen) {
                SPIN_PAUSE();
                if (++spins % 256 == 0 && now_ns() - start > SPIN_NS) break;
            }
            if (current == seen) {
                pthread_mutex_lock(&pool.sleep_lock);
                atomic_fetch_add(&pool.sleepers, 1);
                while ((current = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.sleep_lock);
                atomic_fetch_sub(&pool.sleepers, 1);
                pthread_mutex_unlock(&pool.sleep_lock);
            }
        }
        seen = current;
        // The fields stay as published until this worker acknowledges `seen`.
        if (index < pool.threads) run_items();
        atomic_store(&pool.done[index], seen);
    }
    return NULL;
}

// A forked child (the notebook runner's expect-error cells) has none of the workers, and a lock
// some parent thread held stays held: it starts over with fresh locks and no workers.
static void reset_after_fork(void) {
    pthread_mutex_init(&pool.job_lock, NULL);
    pthread_mutex_init(&pool.sleep_lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_store(&pool.sleepers, 0);
    pool.workers = 0;
}

// Starts workers up to `needed` (under job_lock); if some cannot be started, the others and the
// caller run every item.
static void ensure_workers(int needed) {
    static int fork_handler_registered;
    if (!fork_handler_registered) fork_handler_registered = pthread_atfork(NULL, NULL, reset_after_fork) == 0;
    if (needed > MAX_WORKERS) needed = MAX_WORKERS;
    while (pool.workers < needed) {
        const int index = pool.workers + 1;
        atomic_store(&pool.done[index], atomic_load(&pool.generation));
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 8u << 20);  // Swift closures run here, as on Dispatch's threads
        const int failed = pthread_create(&thread, &attr, worker_main, (void *)(long)index);
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool.workers = index;
    }
}

int engine_pool_inside(void) { return inside_pool_task; }

void engine_pool_run(int count, int threads, engine_pool_task task, void *context) {
    // Nested (a task's own loop) or concurrent (another thread's job running) calls run here one
    // item after another.
    if (threads > count) threads = count;
    if (threads <= 1 || inside_pool_task || pthread_mutex_trylock(&pool.job_lock) != 0) {
        for (int k = 0; k < count; k++) task(context, k);
        return;
    }
    ensure_workers(threads - 1);
    pool.task = task;
    pool.context = context;
    pool.count = count;
    pool.threads = threads;
    atomic_store(&pool.next, 0);
    const unsigned long generation = atomic_fetch_add(&pool.generation, 1) + 1;
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
    inside_pool_task = 1;
    run_items();
    inside_pool_task = 0;
    for (int w = 1; w <= pool.workers; w++) {
        const long start = now_ns();
        unsigned spins = 0;
        while (atomic_load(&pool.done[w]) != generation) {
            SPIN_PAUSE();
            if (++spins % 256 == 0 && now_ns() - start > YIELD_AFTER_NS) sched_yield();
        }
    }
    pthread_mutex_unlock(&pool.job_lock);
}
