/* mxc-workload: a known sequence of syscalls for the audit tests to compare
 * a stream against.  Static (it runs in agent sandboxes and busybox roots
 * alike); every file call goes through syscall(2) with an explicit *at
 * number, so the ops the tests expect do not depend on how libc maps
 * open/mkdir/rename.
 *
 *   workload ground DIR PORT   the ground-truth sequence (below); silent on
 *                              success, exit 1 naming the step that behaved
 *                              unexpectedly
 *   workload burst N PATH      N x openat(PATH, O_RDONLY) of a missing path
 *   workload slow N DIR MS     openat DIR/slow-<i> (missing), then sleep MS ms
 *   workload mxcd SOCKET       {"op":"status"} to mxcd; prints the reply line,
 *                              or "connect: ERRNO"; exit 0 either way
 *
 * A usage error exits 2.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static void fail(const char *step, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "workload: %s: ", step);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static long sys_openat(const char *path, int flags, int mode)
{
    return syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* A call that must succeed. */
static void ok(const char *step, long ret)
{
    if (ret < 0)
        fail(step, "failed: %s", errname(errno));
}

/* A call that must fail with `want`. */
static void fails(const char *step, long ret, int want)
{
    if (ret >= 0)
        fail(step, "succeeded, expected %s", errname(want));
    if (errno != want)
        fail(step, "failed with %s, expected %s", errname(errno), errname(want));
}

static char *join(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        exit(3);
    return p;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int ground(const char *dir, int port)
{
    long fd = sys_openat(join(dir, "exists"), O_RDONLY | O_CLOEXEC, 0);
    ok("open exists", fd);
    close((int)fd);
    fails("open missing", sys_openat(join(dir, "missing"), O_RDONLY | O_CLOEXEC, 0), ENOENT);
    fails("create on the read-only root", sys_openat("/etc/mxc-ro-probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0644),
          EROFS);

    char *d1 = join(dir, "d1"), *d2 = join(dir, "d2"), *l1 = join(dir, "l1");
    ok("mkdir d1", syscall(SYS_mkdirat, AT_FDCWD, d1, 0755));
    ok("rename d1 d2", syscall(SYS_renameat2, AT_FDCWD, d1, AT_FDCWD, d2, 0));
    ok("symlink l1", syscall(SYS_symlinkat, "target", AT_FDCWD, l1));
    ok("unlink l1", syscall(SYS_unlinkat, AT_FDCWD, l1, 0));
#ifdef SYS_rmdir
    ok("rmdir d2", syscall(SYS_rmdir, d2));
#else
    ok("rmdir d2", syscall(SYS_unlinkat, AT_FDCWD, d2, AT_REMOVEDIR));
#endif

    struct sockaddr_in a = loopback(port);
    int lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok("tcp socket", lsn);
    ok("bind", bind(lsn, (struct sockaddr *)&a, sizeof a));
    ok("listen", listen(lsn, 4));
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ok("tcp socket 2", c);
    ok("connect", connect(c, (struct sockaddr *)&a, sizeof a));

    struct sockaddr_in dns = loopback(53);
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ok("udp socket", u);
    if (sendto(u, "x", 1, 0, (struct sockaddr *)&dns, sizeof dns) != 1)
        fail("sendto", "failed: %s", errname(errno));
    close(u);
    close(c);
    close(lsn);

    pid_t pid = fork();
    ok("fork", pid);
    if (pid == 0) {
        char *argv[] = {"/bin/true", NULL};
        execve(argv[0], argv, environ);
        _exit(127);
    }
    int st;
    ok("wait", waitpid(pid, &st, 0));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("exec /bin/true", "wait status 0x%x", st);
    return 0;
}

static int burst(long n, const char *path)
{
    for (long i = 0; i < n; i++)
        if (sys_openat(path, O_RDONLY | O_CLOEXEC, 0) >= 0)
            fail("burst", "%s exists", path);
    return 0;
}

static int slow(long n, const char *dir, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    for (long i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "slow-%ld", i);
        if (sys_openat(join(dir, name), O_RDONLY | O_CLOEXEC, 0) >= 0)
            fail("slow", "%s/%s exists", dir, name);
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
    }
    return 0;
}

static int mxcd(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        printf("socket: %s\n", errname(errno));
        return 0;
    }
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("connect: %s\n", errname(errno));
        return 0;
    }
    const char req[] = "{\"op\":\"status\"}\n";
    if (send(s, req, sizeof req - 1, MSG_NOSIGNAL) < 0) { /* no SIGPIPE */
        /* A refusing daemon may have closed already: its answer can still be read. */
    }
    char line[65536];
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t n = read(s, line + len, sizeof line - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            printf("read: %s\n", errname(errno));
            return 0;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = 0;
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = 0;
    printf("%s\n", len ? line : "(no reply)");
    return 0;
}

static long number(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0) {
        fprintf(stderr, "workload: not a number: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "ground") && argc == 4)
        return ground(argv[2], (int)number(argv[3]));
    if (!strcmp(cmd, "burst") && argc == 4)
        return burst(number(argv[2]), argv[3]);
    if (!strcmp(cmd, "slow") && argc == 5)
        return slow(number(argv[2]), argv[3], number(argv[4]));
    if (!strcmp(cmd, "mxcd") && argc == 3)
        return mxcd(argv[2]);
    fprintf(stderr, "usage: workload ground DIR PORT | burst N PATH | slow N DIR MS | mxcd SOCKET\n");
    return 2;
}
