/* coldstart: time from fork+exec of a server to its first complete HTTP 200 response.
 *
 *   coldstart RUNS PORT PATH [--server-cpu N] -- SERVER ARGV...
 *
 * For each run: fork, (pin the child to CPU N with sched_setaffinity), exec the server, and poll 127.0.0.1:PORT (connect, send one GET
 * of PATH, read the status line) until a 200 arrives; then SIGKILL the server, reap it
 * and wait for the port to be free again. Prints one line per run (microseconds) and a
 * summary with the median and p90. C rather than Python so the poll loop itself costs
 * microseconds, not tens of them.
 *
 * Between failed attempts the harness sleeps POLL_PAUSE_US (timer slack set to 1 ns, so
 * the sleep is that long and not the default 50 us more): a spinning poll loop took a
 * whole CPU of this 2-CPU machine away from a server (or a container runtime's chain of
 * processes) that was starting. The pause can only make a measured start look slower,
 * by at most about one pause, never faster.
 *
 * Pin the harness itself to another CPU (taskset -c M coldstart ...) and the server with
 * --server-cpu, so the poll loop never competes with the starting server. The child pins
 * itself before exec rather than through `taskset -c N SERVER`: taskset is a dynamically
 * linked program, and its own exec, ld.so and libc start-up (~0.4 ms here) would be timed
 * as part of every server's start. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_PAUSE_US 20

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* One attempt: 1 if the server answered 200, 0 if not (yet). */
static int try_get(int port, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[512];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
        if (write(fd, req, n) == n) {
            char buf[64];
            ssize_t got = 0, r;
            while (got < 12 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += r;
            buf[got > 0 ? got : 0] = 0;
            ok = got >= 12 && memcmp(buf + 9, "200", 3) == 0;
        }
    }
    close(fd);
    return ok;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int sep = 4, server_cpu = -1;
    if (argc > 5 && strcmp(argv[4], "--server-cpu") == 0) {
        server_cpu = atoi(argv[5]);
        sep = 6;
    }
    if (argc < sep + 2 || strcmp(argv[sep], "--") != 0) {
        fprintf(stderr, "usage: coldstart RUNS PORT PATH [--server-cpu N] -- SERVER ARGV...\n");
        return 2;
    }
    int runs = atoi(argv[1]), port = atoi(argv[2]);
    const char *path = argv[3];
    double *t = calloc(runs, sizeof *t);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    const struct timespec pause = {0, POLL_PAUSE_US * 1000L};
    for (int i = 0; i < runs; i++) {
        double t0 = now_us();
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0); /* its own group, so a forking server dies whole */
            if (server_cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(server_cpu, &set);
                if (sched_setaffinity(0, sizeof set, &set) != 0) {
                    perror("sched_setaffinity");
                    _exit(127);
                }
            }
            execvp(argv[sep + 1], argv + sep + 1);
            perror("exec");
            _exit(127);
        }
        for (;;) {
            if (try_get(port, path)) break;
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                fprintf(stderr, "coldstart: server exited before answering (status %d)\n", st);
                return 1;
            }
            if (now_us() - t0 > 5e6) {
                fprintf(stderr, "coldstart: no 200 within 5 s\n");
                kill(-pid, SIGKILL);
                return 1;
            }
            nanosleep(&pause, NULL);
        }
        t[i] = now_us() - t0;
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        usleep(20000); /* idle gap, and let the port settle */
    }
    qsort(t, runs, sizeof *t, cmp);
    printf("runs=%d median_us=%.0f p90_us=%.0f min_us=%.0f max_us=%.0f\n", runs, t[runs / 2],
           t[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1], t[0], t[runs - 1]);
    return 0;
}
