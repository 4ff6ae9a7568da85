/* One thread that naps NAP_US microseconds at a time, many times: blocks of known length.
 * Usage: napper SECONDS NAP_US [wait]. Prints its pid first, then JSON: its tid, the number of
 * naps, its elapsed and CPU time (CLOCK_THREAD_CPUTIME_ID), off_cpu_ns = elapsed - CPU, and the
 * sum of the squares of each nap's length (nap_sq_ns2, CLOCK_MONOTONIC around it): on a loaded
 * machine a nap ends when the thread gets a CPU again, so lengths vary, and a sampled estimate
 * of their sum varies with the sum of their squares. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds;
static long nap_us;

static int64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void nap(void) {
    struct timespec ts = {0, nap_us * 1000};
    nanosleep(&ts, NULL);
}

static double nap_sq_ns2;

static void *napper(void *arg) {
    int64_t *out = arg;
    pthread_setname_np(pthread_self(), "napper");
    out[0] = syscall(SYS_gettid);
    int64_t wall0 = now_ns(CLOCK_MONOTONIC), cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    while (now_ns(CLOCK_MONOTONIC) - wall0 < (int64_t)(seconds * 1e9)) {
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        nap();
        double length = (double)(now_ns(CLOCK_MONOTONIC) - t0);
        nap_sq_ns2 += length * length;
        out[1]++;
    }
    out[3] = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    out[2] = now_ns(CLOCK_MONOTONIC) - wall0;
    return NULL;
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 2.0;
    nap_us = argc > 2 ? atol(argv[2]) : 100;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
    }
    int64_t out[4] = {0};
    pthread_t t;
    pthread_create(&t, NULL, napper, out);
    pthread_join(t, NULL);
    printf("{\"tid\": %lld, \"naps\": %lld, \"elapsed_ns\": %lld, \"cpu_ns\": %lld, "
           "\"off_cpu_ns\": %lld, \"nap_sq_ns2\": %.6e}\n",
           (long long)out[0], (long long)out[1], (long long)out[2], (long long)out[3],
           (long long)(out[2] - out[3]), nap_sq_ns2);
    return 0;
}
