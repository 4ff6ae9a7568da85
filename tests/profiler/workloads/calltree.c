/* A CPU-bound workload with a known call tree and a measured split of time between its leaves.
 *
 *   main -> run -> alpha -> leaf_one            (weight 1)
 *               -> beta  -> gamma -> leaf_two   (weight 3)
 *               -> beta  -> leaf_three          (weight 2)
 *
 * Each leaf spins on the same loop for weight * UNIT iterations. The program measures the thread
 * CPU time spent in each leaf (CLOCK_THREAD_CPUTIME_ID) and prints the true shares and its total
 * CPU time as JSON when it ends after argv[1] seconds (default 5). It prints its pid first and
 * flushes, so a test can attach; with a second argument it then waits for a line on stdin before
 * it starts (so a profiler can be ready first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define UNIT 200000L
#define NOINLINE __attribute__((noinline))

static double spent[3];
static long iterations;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

NOINLINE void leaf_one(void) { volatile unsigned long acc = 0; for (long i = 0; i < 1 * UNIT; i++) acc += i ^ (acc >> 3); }
NOINLINE void leaf_two(void) { volatile unsigned long acc = 0; for (long i = 0; i < 3 * UNIT; i++) acc += i ^ (acc >> 3); }
NOINLINE void leaf_three(void) { volatile unsigned long acc = 0; for (long i = 0; i < 2 * UNIT; i++) acc += i ^ (acc >> 3); }

NOINLINE void alpha(void) { double t = now(); leaf_one(); spent[0] += now() - t; }
NOINLINE void gamma_(void) { double t = now(); leaf_two(); spent[1] += now() - t; }
NOINLINE void beta(void) {
    gamma_();
    double t = now(); leaf_three(); spent[2] += now() - t;
}

NOINLINE void run(double seconds) {
    struct timespec start, cur;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        alpha();
        beta();
        iterations++;
        clock_gettime(CLOCK_MONOTONIC, &cur);
    } while ((cur.tv_sec - start.tv_sec) + (cur.tv_nsec - start.tv_nsec) * 1e-9 < seconds);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    if (argc > 2) {  /* "wait": start only when a line arrives on stdin (the profiler is ready) */
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
    }
    run(seconds);
    double total = spent[0] + spent[1] + spent[2];
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    printf("{\"shares\": {\"leaf_one\": %.5f, \"leaf_two\": %.5f, \"leaf_three\": %.5f}, "
           "\"cpu_seconds\": %.4f, \"iterations\": %ld}\n",
           spent[0] / total, spent[1] / total, spent[2] / total,
           cpu.tv_sec + cpu.tv_nsec * 1e-9, iterations);
    return 0;
}
