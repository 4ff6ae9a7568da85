/* Frameless leaves under frame pointers: built -O1 -fno-omit-frame-pointer, GCC gives the leaves
 * no frame of their own, so a frame-pointer walk skips each leaf's caller unless the profiler
 * recovers it.
 *
 *   main -> run -> mix_a -> leaf_add      (a frameless leaf, called directly)
 *               -> mix_b -> leaf_xor      (another, from a different caller)
 *               -> scan  -> memchr        (the C library's, frameless, called through the PLT)
 *
 * It prints its pid first and flushes, then runs for argv[1] seconds (default 5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

volatile unsigned long sink;
volatile unsigned long rounds = 400000;
static char buf[1 << 15];

NOINLINE unsigned long leaf_add(unsigned long n) {
    unsigned long acc = 0;
    for (unsigned long i = 0; i < n; i++) acc += i ^ (acc >> 3);
    return acc;
}
NOINLINE unsigned long leaf_xor(unsigned long n) {
    unsigned long acc = 1;
    for (unsigned long i = 0; i < n; i++) acc ^= (acc << 5) + i;
    return acc;
}
NOINLINE unsigned long mix_a(void) { return leaf_add(rounds) + 1; }
NOINLINE unsigned long mix_b(void) { return leaf_xor(rounds) + 2; }
NOINLINE unsigned long scan(void) {
    unsigned long found = 0;
    for (int i = 0; i < 1500; i++) found += (unsigned long)memchr(buf, 1 + (int)(sink & 1), sizeof buf);
    return found;
}

NOINLINE void run(double seconds) {
    struct timespec start, cur;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        sink += mix_a();
        sink += mix_b();
        sink += scan();
        clock_gettime(CLOCK_MONOTONIC, &cur);
    } while ((cur.tv_sec - start.tv_sec) + (cur.tv_nsec - start.tv_nsec) * 1e-9 < seconds);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    memset(buf, 0, sizeof buf);
    printf("%d\n", (int)getpid());
    fflush(stdout);
    run(seconds);
    return 0;
}
