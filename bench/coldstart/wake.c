/* wake: time from connect() to the first response byte of a scale-to-zero service
 * (mote serve) that is idle, i.e. has no container running, when the request comes.
 *
 *   wake RUNS PORT PATH SERVE_PID [GAP_MS]
 *
 * Before each run: wait until SERVE_PID has no child process (the container has been
 * stopped after its idle timeout), then GAP_MS more (default 20). Then: connect to
 * 127.0.0.1:PORT, send one GET of PATH, read until the first byte arrives (timed), read
 * the rest and check the status is 200. Prints one line per run (microseconds) with -v
 * and a summary line like coldstart.c's. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int has_children(int pid) {
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "wake: cannot read %s (is the serve process running?)\n", path);
        exit(1);
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: wake RUNS PORT PATH SERVE_PID [GAP_MS]\n");
        return 2;
    }
    int runs = atoi(argv[1]), port = atoi(argv[2]), serve = atoi(argv[4]);
    int gap_ms = argc > 5 ? atoi(argv[5]) : 20;
    const char *path = argv[3];
    int verbose = getenv("WAKE_VERBOSE") != NULL;
    double *t = calloc(runs, sizeof *t);
    char req[512];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    for (int i = 0; i < runs; i++) {
        double w0 = now_us();
        while (has_children(serve)) {
            if (now_us() - w0 > 30e6) {
                fprintf(stderr, "wake: the service did not go idle within 30 s\n");
                return 1;
            }
            usleep(1000);
        }
        usleep(gap_ms * 1000);
        if (has_children(serve)) { i--; continue; }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        double t0 = now_us();
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            perror("wake: connect");
            return 1;
        }
        if (write(fd, req, reqlen) != reqlen) {
            perror("wake: write");
            return 1;
        }
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        double t1 = now_us();
        if (n <= 0) {
            fprintf(stderr, "wake: run %d: no response (%s)\n", i, n == 0 ? "closed" : strerror(errno));
            return 1;
        }
        size_t got = n;
        while (got < 12 && (n = read(fd, buf + got, sizeof buf - got)) > 0) got += n;
        if (got < 12 || memcmp(buf + 9, "200", 3) != 0) {
            fprintf(stderr, "wake: run %d: not a 200: %.*s\n", i, (int)(got < 40 ? got : 40), buf);
            return 1;
        }
        while (read(fd, buf, sizeof buf) > 0) {}
        close(fd);
        t[i] = t1 - t0;
        if (verbose) printf("%.0f\n", t[i]);
    }
    qsort(t, runs, sizeof *t, cmp);
    printf("runs=%d median_us=%.0f p90_us=%.0f min_us=%.0f max_us=%.0f\n", runs, t[runs / 2],
           t[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1], t[0], t[runs - 1]);
    return 0;
}
