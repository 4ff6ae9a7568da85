/* Two threads pinned to one CPU, taking turns with sched_yield(): every yield is a context
 * switch, so ns per yield is the cost of one switch (and of whatever hangs on it).
 * Usage: yielder CPU YIELDS [wait]. Prints its pid first, then JSON with ns_per_switch. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cpu;
static long yields;

static void *turns(void *arg) {
    (void)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    for (long i = 0; i < yields; i++) sched_yield();
    return NULL;
}

int main(int argc, char **argv) {
    cpu = argc > 1 ? atoi(argv[1]) : 0;
    yields = argc > 2 ? atol(argv[2]) : 200000;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
    }
    struct timespec a, b;
    pthread_t t[2];
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, turns, NULL);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("{\"ns_per_switch\": %.1f}\n", ns / (2.0 * yields));
    return 0;
}
