/* Two threads ping-ponging a byte through two pipes at a fixed rate: a high context-switch load.
 *
 * Usage: pingpong SECONDS RATE [wait]. RATE round trips per second (each one blocks both threads
 * once), paced in 1 ms slots. Prints its pid first; with "wait" it starts after reading a line
 * from stdin. At the end it prints one JSON line: round trips done, the mean round-trip time
 * (the slowdown a profiler causes shows up here), and the process's CPU time (user + system). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void *ponger(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "ponger");
    char c;
    while (read(ping[0], &c, 1) == 1) {
        if (write(pong[1], &c, 1) != 1) break;
    }
    return NULL;
}

__attribute__((noinline)) int64_t round_trip(void) {
    char c = 'x';
    int64_t t0 = now_ns();
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) exit(1);
    return now_ns() - t0;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    long rate = argc > 2 ? atol(argv[2]) : 20000;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
    }
    if (pipe(ping) || pipe(pong)) return 1;
    pthread_t t;
    pthread_create(&t, NULL, ponger, NULL);
    pthread_setname_np(pthread_self(), "pinger");
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int64_t start = now_ns(), slot = start, busy = 0;
    long done = 0, per_slot = rate / 1000 > 0 ? rate / 1000 : 1;
    while (now_ns() - start < (int64_t)(seconds * 1e9)) {
        for (long i = 0; i < per_slot; i++) busy += round_trip();
        done += per_slot;
        slot += 1000000;
        struct timespec ts = {slot / 1000000000, slot % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    int64_t elapsed = now_ns() - start;
    close(ping[1]);
    pthread_join(t, NULL);
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 1e-6 * ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec));
    printf("{\"round_trips\": %ld, \"elapsed_s\": %.6f, \"mean_round_trip_ns\": %.1f, "
           "\"cpu_s\": %.6f}\n",
           done, elapsed * 1e-9, done ? (double)busy / done : 0.0, cpu);
    return 0;
}
