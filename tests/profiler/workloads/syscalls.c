/* A workload that spends its time in the kernel: write(2) to /dev/null in a loop, via a known
 * call chain main -> churn -> write. Runs argv[1] seconds (default 3); prints its pid first. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) void churn(int fd, double seconds) {
    static char buf[4096];
    struct timespec start, cur;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 1000; i++) {
            if (write(fd, buf, sizeof buf) < 0) exit(1);
        }
        clock_gettime(CLOCK_MONOTONIC, &cur);
    } while ((cur.tv_sec - start.tv_sec) + (cur.tv_nsec - start.tv_nsec) * 1e-9 < seconds);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    int fd = open("/dev/null", O_WRONLY);
    printf("%d\n", (int)getpid());
    fflush(stdout);
    churn(fd, seconds);
    return 0;
}
