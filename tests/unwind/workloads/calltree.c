/* Test workload for profiler.unwind: takes real register + stack snapshots at known call trees.
 *
 * Usage: calltree OUTDIR   — writes OUTDIR/<scenario>.snap and OUTDIR/<scenario>.maps for each
 * scenario. A .snap file is: u64 rip, u64 rsp, u64 rbp, u64 length, then `length` stack bytes
 * copied from rsp upward (at most 16 KiB, clipped to the end of the stack's mapping).
 * Usage: calltree --spin SECONDS — burns CPU 13 frames deep (for perf --call-graph dwarf).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline, noclone))
#define STACK_COPY 16384

static const char *outdir;
static unsigned char copy[STACK_COPY];
volatile int sink;

static uint64_t mapping_end(uint64_t addr) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    uint64_t lo, hi, end = addr + STACK_COPY;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= addr && addr < hi) {
            end = hi;
            break;
        }
    }
    if (f) fclose(f);
    return end;
}

static void save(const char *name, uint64_t rip, uint64_t rsp, uint64_t rbp) {
    uint64_t len = mapping_end(rsp) - rsp;
    if (len > STACK_COPY) len = STACK_COPY;
    memcpy(copy, (void *)rsp, len);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.snap", outdir, name);
    FILE *f = fopen(path, "wb");
    uint64_t hdr[4] = {rip, rsp, rbp, len};
    fwrite(hdr, sizeof hdr, 1, f);
    fwrite(copy, 1, len, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.maps", outdir, name);
    FILE *out = fopen(path, "w");
    FILE *in = fopen("/proc/self/maps", "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

/* The leaf of every scenario: the registers are read at one instruction, so the CFI row of that
 * pc describes them exactly; the saved registers above rsp do not change afterwards. */
NOINLINE void take_snapshot(const char *name) {
    uint64_t rip, rsp, rbp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
                     : "=r"(rip), "=r"(rsp), "=r"(rbp));
    save(name, rip, rsp, rbp);
    sink++;
}

NOINLINE int func_c(const char *name, int x) { take_snapshot(name); return x * 7 + sink; }
NOINLINE int func_b(const char *name, int x) { int r = func_c(name, x + 1); return r * 5 + x; }
NOINLINE int func_a(const char *name, int x) { int r = func_b(name, x + 2); return r * 3 + x; }

NOINLINE int recurse(int depth, int x) {
    if (depth == 0) { take_snapshot("recursion"); return x; }
    int r = recurse(depth - 1, x + depth);
    return r * r + depth; /* not linear: gcc cannot turn the recursion into a loop */
}

static int compared;
NOINLINE int compare_ints(const void *pa, const void *pb) {
    if (compared++ == 0) take_snapshot("qsort");
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a > b) - (a < b);
}

NOINLINE int sort_numbers(void) {
    int v[64];
    for (int i = 0; i < 64; i++) v[i] = (i * 37) % 64;
    qsort(v, 64, sizeof v[0], compare_ints);
    return v[0] + v[63];
}

NOINLINE void on_signal(int sig) { take_snapshot("signal"); sink += sig; }

NOINLINE int raise_signal(void) {
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    return sink;
}

NOINLINE void *thread_main(void *arg) {
    sink += func_a("thread", (int)(intptr_t)arg);
    return NULL;
}

NOINLINE long spin_leaf(long n) {
    long acc = 0;
    for (long i = 0; i < n; i++) acc += i ^ (acc >> 3);
    return acc;
}

NOINLINE long spin(int depth, long n) {
    if (depth == 0) return spin_leaf(n);
    long r = spin(depth - 1, n);
    return r * r + depth;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--spin") == 0) {
        double end = now() + atof(argv[2]);
        long acc = 0;
        while (now() < end) acc += spin(12, 20000);
        return acc == 42;
    }
    if (argc < 2) { fprintf(stderr, "usage: %s OUTDIR\n", argv[0]); return 2; }
    outdir = argv[1];
    int r = func_a("chain", argc);
    r += recurse(10, argc);
    r += sort_numbers();
    r += raise_signal();
    pthread_t t;
    pthread_create(&t, NULL, thread_main, (void *)(intptr_t)r);
    pthread_join(t, NULL);
    return sink == 12345 ? 1 : 0;
}
