// The workload of tests/bench/audit_overhead.sh: a syscall loop that times itself, so that a
// sample is the loop only (not the start and teardown of the sandbox around it).
//
//   audit_loop [--uid UID] openclose N PATH   N x (open(PATH, O_RDONLY) + close)
//   audit_loop [--uid UID] spawn N PROG       N x (fork + execve(PROG) + waitpid)
//   audit_loop [--uid UID] failopen N PATH    N x open(PATH) that must fail (ENOENT)
//
// Prints one line "loop_ns=<ns> n=<N> cpu_ns=<ns>" on stdout and exits 0: loop_ns is the wall time
// of the loop (CLOCK_MONOTONIC), cpu_ns the CPU time (user + system, getrusage) the loop's own
// process and, for spawn, its children used in it: the probes run in the syscalls of the process,
// so cpu_ns holds their cost without the time spent waiting for a CPU. It
// exits 1 with a message on stderr when a call does not behave as expected. --uid switches to
// UID (setresgid/setresuid) before the loop, for audit rules that select by uid.
// open(2) is called through syscall(SYS_openat, ...) so that libc cannot pick another syscall.
// (The fork+exec mode is called "spawn", not "exec": mxc 0.1.0's command line treats an "exec"
// anywhere in argv, even after `run --`, as its own exec subcommand and mangles the arguments.)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long cpu_ns(void) {
    struct rusage s, c;
    getrusage(RUSAGE_SELF, &s);
    getrusage(RUSAGE_CHILDREN, &c);
    long long us = (long long)(s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec + c.ru_stime.tv_sec) * 1000000LL +
                   s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec + c.ru_stime.tv_usec;
    return us * 1000;
}

static int usage(void) {
    fprintf(stderr, "usage: audit_loop [--uid UID] openclose|spawn|failopen N PATH\n");
    return 2;
}

int main(int argc, char **argv) {
    int a = 1;
    if (argc > a + 1 && strcmp(argv[a], "--uid") == 0) {
        uid_t uid = (uid_t)strtoul(argv[a + 1], NULL, 10);
        if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) {
            fprintf(stderr, "audit_loop: cannot switch to uid %u: %s\n", (unsigned)uid, strerror(errno));
            return 1;
        }
        a += 2;
    }
    if (argc != a + 3)
        return usage();
    const char *mode = argv[a];
    long n = strtol(argv[a + 1], NULL, 10);
    const char *path = argv[a + 2];
    if (n <= 0)
        return usage();

    long long t0, t1, c0 = cpu_ns();
    if (strcmp(mode, "openclose") == 0) {
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                fprintf(stderr, "audit_loop: open %s: %s\n", path, strerror(errno));
                return 1;
            }
            close(fd);
        }
        t1 = now_ns();
    } else if (strcmp(mode, "failopen") == 0) {
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0 || errno != ENOENT) {
                fprintf(stderr, "audit_loop: open %s did not fail with ENOENT\n", path);
                return 1;
            }
        }
        t1 = now_ns();
    } else if (strcmp(mode, "spawn") == 0) {
        char *const args[] = {(char *)path, NULL};
        char *const env[] = {NULL};
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p < 0) {
                fprintf(stderr, "audit_loop: fork: %s\n", strerror(errno));
                return 1;
            }
            if (p == 0) {
                execve(path, args, env);
                _exit(127);
            }
            int st;
            if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "audit_loop: %s did not exit 0 (status %#x)\n", path, st);
                return 1;
            }
        }
        t1 = now_ns();
    } else {
        return usage();
    }
    long long c1 = cpu_ns();
    printf("loop_ns=%lld n=%ld cpu_ns=%lld\n", t1 - t0, n, c1 - c0);
    return 0;
}
