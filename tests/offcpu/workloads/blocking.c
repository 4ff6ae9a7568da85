/* A workload whose blocking is known: four threads, each measuring its own time.
 *
 *   sleeper: nanosleep(100 ms) per iteration       (sleeper_loop -> sleep_100ms -> nanosleep)
 *   reader:  read() a pipe                         (reader_loop -> wait_for_byte -> read)
 *   writer:  nanosleep(50 ms), then write the pipe (writer_loop -> nap_50ms -> nanosleep)
 *   spinner: burns CPU                             (spinner_loop -> spin)
 *
 * Usage: blocking SECONDS [wait]. Prints its pid first; with "wait" it starts the threads only
 * after reading a line from stdin, so a profiler can attach first. At the end it prints one JSON
 * line: per thread its tid, wall time from its first to its last instruction (elapsed_ns), its
 * CPU time (CLOCK_THREAD_CPUTIME_ID, cpu_ns), off_cpu_ns = elapsed - cpu, and blocked_ns: the
 * time spent inside its blocking calls, measured around them with CLOCK_MONOTONIC. */
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
static int pipe_fds[2];
static volatile int stop_writer;

struct truth {
    const char *name;
    int tid;
    int64_t elapsed_ns, cpu_ns, blocked_ns;
    long iterations;
};

static int64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void begin(struct truth *t, const char *name, int64_t *wall0, int64_t *cpu0) {
    t->name = name;
    t->tid = (int)syscall(SYS_gettid);
    pthread_setname_np(pthread_self(), name);
    *wall0 = now_ns(CLOCK_MONOTONIC);
    *cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void end(struct truth *t, int64_t wall0, int64_t cpu0) {
    t->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    t->elapsed_ns = now_ns(CLOCK_MONOTONIC) - wall0;
}

__attribute__((noinline)) void sleep_100ms(void) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

__attribute__((noinline)) void *sleeper_loop(void *arg) {
    struct truth *t = arg;
    int64_t wall0, cpu0;
    begin(t, "sleeper", &wall0, &cpu0);
    while (now_ns(CLOCK_MONOTONIC) - wall0 < (int64_t)(seconds * 1e9)) {
        int64_t b = now_ns(CLOCK_MONOTONIC);
        sleep_100ms();
        t->blocked_ns += now_ns(CLOCK_MONOTONIC) - b;
        t->iterations++;
    }
    end(t, wall0, cpu0);
    return NULL;
}

__attribute__((noinline)) long wait_for_byte(void) {
    char c;
    return read(pipe_fds[0], &c, 1);
}

__attribute__((noinline)) void *reader_loop(void *arg) {
    struct truth *t = arg;
    int64_t wall0, cpu0;
    begin(t, "reader", &wall0, &cpu0);
    for (;;) {
        int64_t b = now_ns(CLOCK_MONOTONIC);
        long n = wait_for_byte();
        t->blocked_ns += now_ns(CLOCK_MONOTONIC) - b;
        if (n <= 0) break; /* the writer closed the pipe: the run is over */
        t->iterations++;
    }
    end(t, wall0, cpu0);
    return NULL;
}

__attribute__((noinline)) void nap_50ms(void) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

__attribute__((noinline)) void *writer_loop(void *arg) {
    struct truth *t = arg;
    int64_t wall0, cpu0;
    begin(t, "writer", &wall0, &cpu0);
    while (now_ns(CLOCK_MONOTONIC) - wall0 < (int64_t)(seconds * 1e9)) {
        int64_t b = now_ns(CLOCK_MONOTONIC);
        nap_50ms();
        t->blocked_ns += now_ns(CLOCK_MONOTONIC) - b;
        if (write(pipe_fds[1], "x", 1) != 1) exit(1);
        t->iterations++;
    }
    close(pipe_fds[1]);
    end(t, wall0, cpu0);
    return NULL;
}

__attribute__((noinline)) uint64_t spin(uint64_t x) {
    for (int i = 0; i < 100000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

__attribute__((noinline)) void *spinner_loop(void *arg) {
    struct truth *t = arg;
    int64_t wall0, cpu0;
    volatile uint64_t sink = 1;
    begin(t, "spinner", &wall0, &cpu0);
    while (now_ns(CLOCK_MONOTONIC) - wall0 < (int64_t)(seconds * 1e9)) {
        sink = spin(sink);
        t->iterations++;
    }
    end(t, wall0, cpu0);
    return NULL;
}

int main(int argc, char **argv) {
    seconds = argc > 1 ? atof(argv[1]) : 3.0;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 1;
    }
    if (pipe(pipe_fds) != 0) return 1;
    void *(*loops[])(void *) = {sleeper_loop, reader_loop, writer_loop, spinner_loop};
    enum { N = sizeof loops / sizeof loops[0] };
    struct truth truths[N];
    pthread_t threads[N];
    memset(truths, 0, sizeof truths);
    for (int i = 0; i < N; i++) pthread_create(&threads[i], NULL, loops[i], &truths[i]);
    for (int i = 0; i < N; i++) pthread_join(threads[i], NULL);
    printf("{\"pid\": %d, \"threads\": {", (int)getpid());
    for (int i = 0; i < N; i++) {
        struct truth *t = &truths[i];
        printf("%s\"%s\": {\"tid\": %d, \"elapsed_ns\": %lld, \"cpu_ns\": %lld, "
               "\"off_cpu_ns\": %lld, \"blocked_ns\": %lld, \"iterations\": %ld}",
               i ? ", " : "", t->name, t->tid, (long long)t->elapsed_ns, (long long)t->cpu_ns,
               (long long)(t->elapsed_ns - t->cpu_ns), (long long)t->blocked_ns, t->iterations);
    }
    printf("}}\n");
    return 0;
}
