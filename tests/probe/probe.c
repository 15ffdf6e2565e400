/* mxc-probe: runs inside a container and reports what it sees as one JSON
 * object on stdout, so that integration tests assert on values instead of
 * scraping shell output.  Static, dependency-free C: the rootfs it runs in
 * holds nothing but busybox.
 *
 *   probe                  full report (ids, caps, namespaces, mounts, ...)
 *   probe write PATH [TXT] create+write PATH       {"ok":bool,"errno":"EROFS"}
 *   probe read PATH        read PATH               {"ok":true,"content":"..."}
 *   probe stat PATH        lstat PATH              {"type":"char","mode":...}
 *   probe ls DIR           list DIR (sorted)       {"entries":[...]}
 *   probe sysctl NAME      read /proc/sys/NAME     {"value":"..."}
 *   probe syscall NAME [A] try one syscall         {"ok":bool,"ret":N,"errno":"EPERM"}
 *   probe sleep N          sleep N seconds; TERM/INT/HUP/USR1/USR2 end it with 128+sig
 *   probe exit N           exit with status N
 *   probe kill-self SIG    raise SIG with its default action
 *   probe report FILE      write the full report to FILE (for detached containers)
 *   probe cwd              where the cwd is (raw getcwd, under the root?)
 *   probe exe-hunt STOP OUT  try to open other processes' exe for writing
 *
 * Query subcommands exit 0 whether the operation succeeded or not: the
 * answer is in the JSON.  A usage error exits 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- output ------------------------------------------------------------ */

static FILE *out;

static void put_str(const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            /* Control bytes and non-ASCII bytes are escaped one by one: the
             * input (file contents, paths) is not guaranteed UTF-8, and the
             * output must always parse as JSON. */
            if (*p < 0x20 || *p >= 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* Objects and arrays: `first` tracks whether a comma is needed. */
static int first = 1;

static void sep(void)
{
    if (!first)
        fputc(',', out);
    first = 0;
}

static void key(const char *k)
{
    sep();
    put_str(k);
    fputc(':', out);
}

static void open_obj(const char *k)
{
    if (k)
        key(k);
    else
        sep();
    fputc('{', out);
    first = 1;
}

static void open_arr(const char *k)
{
    if (k)
        key(k);
    else
        sep();
    fputc('[', out);
    first = 1;
}

static void close_obj(void) { fputc('}', out); first = 0; }
static void close_arr(void) { fputc(']', out); first = 0; }

static void kv_str(const char *k, const char *v)
{
    key(k);
    put_str(v);
}

static void kv_int(const char *k, long long v)
{
    key(k);
    fprintf(out, "%lld", v);
}

static void kv_uint(const char *k, unsigned long long v)
{
    key(k);
    fprintf(out, "%llu", v);
}

static void kv_bool(const char *k, int v)
{
    key(k);
    fputs(v ? "true" : "false", out);
}

static void arr_str(const char *v)
{
    sep();
    put_str(v);
}

static void arr_int(long long v)
{
    sep();
    fprintf(out, "%lld", v);
}

static void kv_null(const char *k)
{
    key(k);
    fputs("null", out);
}

/* ---- helpers ----------------------------------------------------------- */

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EDQUOT: return "EDQUOT";
    default: return "EUNKNOWN";
    }
}

static void kv_errno(int e)
{
    kv_str("errno", errno_name(e));
    kv_int("errno_num", e);
    kv_str("error", e ? strerror(e) : "");
}

/* Reads a whole (small) file into a NUL-terminated heap buffer. */
static char *slurp(const char *path, size_t limit, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= limit)
                break;
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            close(fd);
            free(buf);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *err = 0;
    return buf;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* ---- full report ------------------------------------------------------- */

static void report_ids(void)
{
    kv_int("uid", getuid());
    kv_int("gid", getgid());
    kv_int("euid", geteuid());
    kv_int("egid", getegid());
    gid_t groups[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, groups);
    open_arr("groups");
    for (int i = 0; i < n; i++)
        arr_int(groups[i]);
    close_arr();
    mode_t m = umask(0);
    umask(m);
    kv_int("umask", m);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd))
        kv_str("cwd", cwd);
    else
        kv_null("cwd");
    kv_int("pid", getpid());
    kv_int("ppid", getppid());
    kv_int("pgid", getpgrp());
    kv_int("sid", getsid(0));
}

static void report_uname(void)
{
    struct utsname u;
    if (uname(&u) != 0)
        return;
    kv_str("hostname", u.nodename);
    kv_str("domainname", u.domainname);
    kv_str("machine", u.machine);
    kv_str("release", u.release);
}

static void report_env(void)
{
    open_arr("env");
    for (char **e = environ; e && *e; e++)
        arr_str(*e);
    close_arr();
}

/* Caps, NoNewPrivs and Seccomp all come from /proc/self/status. */
static void report_status(void)
{
    int err;
    char *st = slurp("/proc/self/status", 1 << 20, &err);
    static const char *cap_keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    open_obj("caps");
    for (char *line = st ? strtok(st, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        for (size_t i = 0; i < sizeof cap_keys / sizeof *cap_keys; i++)
            if (strcmp(line, cap_keys[i]) == 0)
                kv_str(line, val);
    }
    close_obj();
    free(st);

    st = slurp("/proc/self/status", 1 << 20, &err);
    for (char *line = st ? strtok(st, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        if (strcmp(line, "NoNewPrivs") == 0)
            kv_int("no_new_privs", atoll(val));
        else if (strcmp(line, "Seccomp") == 0)
            kv_int("seccomp", atoll(val));
        else if (strcmp(line, "Seccomp_filters") == 0)
            kv_int("seccomp_filters", atoll(val));
        else if (strcmp(line, "Umask") == 0)
            kv_str("umask_status", val);
    }
    free(st);
}

static void report_namespaces(void)
{
    open_obj("namespaces");
    DIR *d = opendir("/proc/self/ns");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX], target[256];
        snprintf(path, sizeof path, "/proc/self/ns/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        /* "pid:[4026531836]" -> 4026531836 */
        char *br = strchr(target, '[');
        kv_uint(e->d_name, br ? strtoull(br + 1, NULL, 10) : 0);
    }
    if (d)
        closedir(d);
    close_obj();
}

static const struct {
    const char *name;
    int res;
} rlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static void report_rlimits(void)
{
    /* RLIM_INFINITY is printed as 18446744073709551615, the OCI uint64 value. */
    open_obj("rlimits");
    for (size_t i = 0; i < sizeof rlimits / sizeof *rlimits; i++) {
        struct rlimit rl;
        if (getrlimit(rlimits[i].res, &rl) != 0)
            continue;
        open_obj(rlimits[i].name);
        kv_uint("soft", (unsigned long long)rl.rlim_cur);
        kv_uint("hard", (unsigned long long)rl.rlim_max);
        close_obj();
    }
    close_obj();
}

static void report_oom(void)
{
    int err;
    char *s = slurp("/proc/self/oom_score_adj", 64, &err);
    if (s) {
        kv_int("oom_score_adj", atoll(s));
        free(s);
    } else {
        kv_null("oom_score_adj");
    }
}

/* mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
static void report_mounts(void)
{
    int err;
    char *mi = slurp("/proc/self/mountinfo", 8 << 20, &err);
    open_arr("mounts");
    char *save = NULL;
    for (char *line = mi ? strtok_r(mi, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[64];
        int nf = 0;
        char *s2 = NULL;
        for (char *t = strtok_r(line, " ", &s2); t && nf < 64; t = strtok_r(NULL, " ", &s2))
            f[nf++] = t;
        int dash = -1;
        for (int i = 6; i < nf; i++)
            if (strcmp(f[i], "-") == 0) {
                dash = i;
                break;
            }
        if (nf < 6 || dash < 0 || dash + 3 > nf)
            continue;
        unescape_octal(f[3]);
        unescape_octal(f[4]);
        unescape_octal(f[dash + 2]);
        open_obj(NULL);
        kv_str("target", f[4]);
        kv_str("root", f[3]);
        kv_str("fstype", f[dash + 1]);
        kv_str("source", f[dash + 2]);
        kv_str("options", f[5]);
        kv_str("super_options", dash + 3 < nf ? f[dash + 3] : "");
        close_obj();
    }
    close_arr();
    free(mi);
}

static void report_sched(void)
{
    /* personality(0xffffffff) queries without changing it. */
    kv_int("personality", personality(0xffffffff));
    int pol = sched_getscheduler(0);
    const char *name = "unknown";
    switch (pol & ~SCHED_RESET_ON_FORK) {
    case SCHED_OTHER: name = "SCHED_OTHER"; break;
    case SCHED_FIFO: name = "SCHED_FIFO"; break;
    case SCHED_RR: name = "SCHED_RR"; break;
    case SCHED_BATCH: name = "SCHED_BATCH"; break;
    case SCHED_IDLE: name = "SCHED_IDLE"; break;
#ifdef SCHED_DEADLINE
    case SCHED_DEADLINE: name = "SCHED_DEADLINE"; break;
#endif
    }
    kv_str("sched_policy", name);
    struct sched_param sp;
    kv_int("sched_priority", sched_getparam(0, &sp) == 0 ? sp.sched_priority : -1);
    kv_int("nice", getpriority(PRIO_PROCESS, 0));
    /* ioprio_get(IOPRIO_WHO_PROCESS, self): class in bits 13.., data below. */
    long io = syscall(SYS_ioprio_get, 1, 0);
    open_obj("ioprio");
    if (io >= 0) {
        static const char *classes[] = {"IOPRIO_CLASS_NONE", "IOPRIO_CLASS_RT",
                                        "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"};
        long cls = io >> 13;
        kv_str("class", cls >= 0 && cls < 4 ? classes[cls] : "unknown");
        kv_int("priority", io & 0x1fff);
    }
    close_obj();
}

static void report_cgroup(void)
{
    int err;
    char *cg = slurp("/proc/self/cgroup", 1 << 20, &err);
    open_arr("cgroup");
    for (char *line = cg ? strtok(cg, "\n") : NULL; line; line = strtok(NULL, "\n"))
        arr_str(line);
    close_arr();
    free(cg);
}

static void report_fds(void)
{
    open_obj("fds");
    DIR *d = opendir("/proc/self/fd");
    int own = d ? dirfd(d) : -1;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == own)
            continue;
        char path[PATH_MAX], target[PATH_MAX];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        kv_str(e->d_name, target);
    }
    if (d)
        closedir(d);
    close_obj();
}

static void full_report(void)
{
    open_obj(NULL);
    report_ids();
    report_uname();
    report_env();
    report_status();
    report_namespaces();
    report_rlimits();
    report_oom();
    report_mounts();
    report_sched();
    report_cgroup();
    report_fds();
    close_obj();
    fputc('\n', out);
}

/* ---- subcommands ------------------------------------------------------- */

static int cmd_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = 0;
    if (fd < 0) {
        e = errno;
    } else {
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t)len)
            e = errno ? errno : EIO;
        if (close(fd) != 0 && !e)
            e = errno;
    }
    open_obj(NULL);
    kv_bool("ok", e == 0);
    kv_errno(e);
    close_obj();
    fputc('\n', out);
    return 0;
}

static int cmd_read(const char *path)
{
    int e;
    char *s = slurp(path, 16 << 20, &e);
    open_obj(NULL);
    kv_bool("ok", s != NULL);
    kv_errno(s ? 0 : e);
    if (s)
        kv_str("content", s);
    close_obj();
    fputc('\n', out);
    free(s);
    return 0;
}

static const char *file_type(mode_t m)
{
    if (S_ISREG(m)) return "file";
    if (S_ISDIR(m)) return "dir";
    if (S_ISLNK(m)) return "symlink";
    if (S_ISCHR(m)) return "char";
    if (S_ISBLK(m)) return "block";
    if (S_ISFIFO(m)) return "fifo";
    if (S_ISSOCK(m)) return "socket";
    return "unknown";
}

static int cmd_stat(const char *path)
{
    struct stat st;
    int rc = lstat(path, &st);
    int e = rc ? errno : 0;
    open_obj(NULL);
    kv_bool("ok", rc == 0);
    kv_errno(e);
    if (rc == 0) {
        kv_str("type", file_type(st.st_mode));
        kv_int("mode", st.st_mode & 07777);
        char oct[16];
        snprintf(oct, sizeof oct, "%04o", (unsigned)(st.st_mode & 07777));
        kv_str("mode_octal", oct);
        kv_int("uid", st.st_uid);
        kv_int("gid", st.st_gid);
        kv_int("size", st.st_size);
        kv_int("rdev_major", major(st.st_rdev));
        kv_int("rdev_minor", minor(st.st_rdev));
        kv_uint("ino", st.st_ino);
        kv_int("dev_major", major(st.st_dev));
        kv_int("dev_minor", minor(st.st_dev));
    }
    close_obj();
    fputc('\n', out);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_ls(const char *dir)
{
    DIR *d = opendir(dir);
    int e = d ? 0 : errno;
    size_t n = 0, cap = 64;
    char **names = malloc(cap * sizeof *names);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap)
            names = realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = strdup(de->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    open_obj(NULL);
    kv_bool("ok", e == 0);
    kv_errno(e);
    open_arr("entries");
    for (size_t i = 0; i < n; i++) {
        arr_str(names[i]);
        free(names[i]);
    }
    close_arr();
    close_obj();
    fputc('\n', out);
    free(names);
    return 0;
}

static int cmd_sysctl(const char *name)
{
    char path[PATH_MAX];
    int len = snprintf(path, sizeof path, "/proc/sys/%s", name);
    for (int i = (int)strlen("/proc/sys/"); i < len; i++)
        if (path[i] == '.')
            path[i] = '/';
    int e;
    char *s = slurp(path, 1 << 20, &e);
    open_obj(NULL);
    kv_bool("ok", s != NULL);
    kv_errno(s ? 0 : e);
    if (s) {
        chomp(s);
        kv_str("value", s);
    }
    close_obj();
    fputc('\n', out);
    free(s);
    return 0;
}

/* Each call is harmless when allowed (bad arguments or a no-op), so that
 * the errno tells whether a filter or a missing capability stopped it. */
static int cmd_syscall(const char *name, const char *arg)
{
    long ret;
    char buf[256];
    errno = 0;
    if (strcmp(name, "getpid") == 0) {
        ret = syscall(SYS_getpid);
    } else if (strcmp(name, "mkdir") == 0) {
        if (!arg) {
            snprintf(buf, sizeof buf, "/.probe-mkdir-%d", (int)getpid());
            arg = buf;
        }
        ret = syscall(SYS_mkdir, arg, 0755);
        if (ret == 0)
            rmdir(arg);
    } else if (strcmp(name, "bpf") == 0) {
        /* BPF_MAP_CREATE with an all-zero attr: EINVAL if allowed. */
        unsigned char attr[128] = {0};
        ret = syscall(SYS_bpf, 0, attr, sizeof attr);
        if (ret >= 0)
            close((int)ret);
    } else if (strcmp(name, "keyctl") == 0) {
        /* KEYCTL_GET_KEYRING_ID of the session keyring, without creating it. */
        ret = syscall(SYS_keyctl, 0, -3, 0);
    } else if (strcmp(name, "io_uring_setup") == 0) {
        unsigned char params[120] = {0};
        ret = syscall(SYS_io_uring_setup, 1, params);
        if (ret >= 0)
            close((int)ret);
    } else if (strcmp(name, "unshare") == 0) {
        /* A new UTS namespace for the probe alone; nothing else sees it. */
        ret = syscall(SYS_unshare, CLONE_NEWUTS);
    } else if (strcmp(name, "unshare_user") == 0) {
        ret = syscall(SYS_unshare, CLONE_NEWUSER);
    } else if (strcmp(name, "mount") == 0) {
        /* ENOENT if the caller may mount, EPERM if not. */
        ret = syscall(SYS_mount, "none", "/.probe-no-such-dir", "tmpfs", 0UL, NULL);
    } else if (strcmp(name, "setns") == 0) {
        ret = syscall(SYS_setns, -1, 0);
    } else if (strcmp(name, "open_by_handle_at") == 0) {
        ret = syscall(SYS_open_by_handle_at, -1, NULL, 0);
    } else if (strcmp(name, "perf_event_open") == 0) {
        ret = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL);
    } else if (strcmp(name, "ptrace") == 0) {
        /* PTRACE_PEEKUSER on a pid that is not our tracee: ESRCH if allowed. */
        ret = syscall(SYS_ptrace, 3, 1, 0, 0);
    } else if (strcmp(name, "chroot") == 0) {
        ret = syscall(SYS_chroot, "/.probe-no-such-dir");
    } else if (strcmp(name, "sethostname") == 0) {
        const char *h = arg ? arg : "probe";
        ret = syscall(SYS_sethostname, h, strlen(h));
    } else if (strcmp(name, "kexec_load") == 0) {
        ret = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL);
    } else if (strcmp(name, "init_module") == 0) {
        ret = syscall(SYS_init_module, NULL, 0UL, "");
    } else if (strcmp(name, "userfaultfd") == 0) {
        ret = syscall(SYS_userfaultfd, 0);
        if (ret >= 0)
            close((int)ret);
    } else {
        fprintf(stderr, "probe: unknown syscall %s\n", name);
        return 2;
    }
    int e = ret < 0 ? errno : 0;
    open_obj(NULL);
    kv_str("syscall", name);
    kv_bool("ok", ret >= 0);
    kv_int("ret", ret);
    kv_errno(e);
    close_obj();
    fputc('\n', out);
    return 0;
}

static void on_signal(int sig)
{
    _exit(128 + sig);
}

/* As the init of a pid namespace the probe ignores every signal it has no
 * handler for (even from the host), so sleep installs handlers to make
 * `kill ID TERM` end it. */
static int cmd_sleep(const char *arg)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], on_signal);
    double secs = atof(arg);
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

static int signal_number(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
                 {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
                 {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}};
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].sig;
    return atoi(s);
}

static int cmd_kill_self(const char *arg)
{
    int sig = signal_number(arg);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    /* Still alive: the init of a pid namespace ignores default-action
     * signals, even SIGKILL, sent from inside its namespace. */
    open_obj(NULL);
    kv_bool("ok", 0);
    kv_str("error", getpid() == 1 ? "signal ignored: probe is pid 1 of its namespace"
                                  : "signal did not terminate the probe");
    close_obj();
    fputc('\n', out);
    return 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: probe [write PATH [TEXT] | read PATH | stat PATH | ls DIR | sysctl NAME |\n"
            "              syscall NAME [ARG] | sleep N | exit N | kill-self SIG | report FILE]\n");
    return 2;
}

/* ---- security subcommands ---------------------------------------------
 *
 *   probe cwd                   where the cwd really is  {"getcwd":"..","under_root":bool,"ino":N,...}
 *   probe exe-hunt STOP OUT     until file STOP exists, try to reach every other
 *                               process's /proc/PID/exe for writing (directly, and
 *                               by reopening an O_PATH fd once the program stopped
 *                               running: the CVE-2019-5736 attack); report to OUT
 */

/* The raw getcwd syscall: unlike glibc's it shows "(unreachable)/..." for a
 * cwd outside the process's root instead of failing. */
static int cmd_cwd(void)
{
    char buf[PATH_MAX];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    struct stat dot, root;
    int dot_ok = stat(".", &dot) == 0;
    int root_ok = stat("/", &root) == 0;
    /* Walk up through ".." until "/" (inside the root) or a directory that
     * is its own parent without being "/" (the top of a tree outside it). */
    int under = 0, depth = 0;
    int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd >= 0 && root_ok && depth++ < 4096) {
        struct stat cur, up;
        if (fstat(fd, &cur) != 0)
            break;
        if (cur.st_dev == root.st_dev && cur.st_ino == root.st_ino) {
            under = 1;
            break;
        }
        int pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0 || fstat(pfd, &up) != 0) {
            if (pfd >= 0)
                close(pfd);
            break;
        }
        close(fd);
        fd = pfd;
        if (up.st_dev == cur.st_dev && up.st_ino == cur.st_ino)
            break; /* a top that is not our root */
    }
    if (fd >= 0)
        close(fd);
    open_obj(NULL);
    if (n >= 0)
        kv_str("getcwd", buf);
    else
        kv_null("getcwd");
    kv_bool("under_root", under);
    if (dot_ok) {
        kv_uint("ino", dot.st_ino);
        kv_int("dev_major", major(dot.st_dev));
        kv_int("dev_minor", minor(dot.st_dev));
    }
    close_obj();
    fputc('\n', out);
    return 0;
}

struct reached_exe {
    int fd, pid;
    dev_t dev;
    ino_t ino;
    int last_errno;
    char comm[32];
};

static void read_comm(int pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    int err;
    char *s = slurp(path, 64, &err);
    snprintf(buf, len, "%s", s ? s : "?");
    chomp(buf);
    free(s);
}

static void put_hit(const char *how, int pid, dev_t dev, ino_t ino, const char *comm)
{
    open_obj(NULL);
    kv_str("how", how);
    kv_int("pid", pid);
    kv_str("comm", comm);
    kv_int("dev_major", major(dev));
    kv_int("dev_minor", minor(dev));
    kv_uint("ino", ino);
    close_obj();
}

static int cmd_exe_hunt(const char *stop, const char *outpath)
{
    enum { MAX_REACHED = 256, MAX_HITS = 256 };
    static struct reached_exe reached[MAX_REACHED];
    static struct reached_exe hits[MAX_HITS];
    static const char *hit_how[MAX_HITS];
    int nreached = 0, nhits = 0;
    long scans = 0;
    struct stat self;
    if (stat("/proc/self/exe", &self) != 0)
        memset(&self, 0, sizeof self);
    int self_pid = getpid();
    time_t deadline = time(NULL) + 300;
    int last = 0;
    for (;;) {
        if (access(stop, F_OK) == 0) {
            if (last++ >= 3)
                break;
            usleep(100000);
        } else if (time(NULL) > deadline) {
            break;
        }
        scans++;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == self_pid)
                continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            /* Direct: only a file not being executed opens for writing, so
             * this succeeds only in a window after the program is replaced. */
            int w = open(path, O_WRONLY | O_CLOEXEC);
            if (w >= 0) {
                struct stat st;
                if (fstat(w, &st) == 0 && nhits < MAX_HITS) {
                    hits[nhits].pid = pid;
                    hits[nhits].dev = st.st_dev;
                    hits[nhits].ino = st.st_ino;
                    read_comm(pid, hits[nhits].comm, sizeof hits[nhits].comm);
                    hit_how[nhits++] = "direct";
                }
                close(w);
            }
            int p = open(path, O_PATH | O_CLOEXEC);
            if (p < 0)
                continue;
            struct stat st;
            int known = fstat(p, &st) != 0 || (st.st_dev == self.st_dev && st.st_ino == self.st_ino);
            for (int i = 0; !known && i < nreached; i++)
                known = reached[i].dev == st.st_dev && reached[i].ino == st.st_ino;
            if (known || nreached >= MAX_REACHED) {
                close(p);
                continue;
            }
            reached[nreached].fd = p;
            reached[nreached].pid = pid;
            reached[nreached].dev = st.st_dev;
            reached[nreached].ino = st.st_ino;
            reached[nreached].last_errno = 0;
            read_comm(pid, reached[nreached].comm, sizeof reached[nreached].comm);
            nreached++;
        }
        if (d)
            closedir(d);
        /* Reopen what we hold: ETXTBSY while anything runs the program,
         * and a writable host binary once nothing does. */
        for (int i = 0; i < nreached; i++) {
            if (reached[i].fd < 0)
                continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", reached[i].fd);
            int w = open(path, O_WRONLY | O_CLOEXEC);
            if (w < 0) {
                reached[i].last_errno = errno;
                continue;
            }
            close(w);
            if (nhits < MAX_HITS) {
                hits[nhits] = reached[i];
                hit_how[nhits++] = "reopen";
            }
            close(reached[i].fd);
            reached[i].fd = -1;
        }
        usleep(200);
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", outpath);
    out = fopen(tmp, "w");
    if (!out)
        return 1;
    open_obj(NULL);
    kv_int("scans", scans);
    open_arr("reached");
    for (int i = 0; i < nreached; i++) {
        open_obj(NULL);
        kv_int("pid", reached[i].pid);
        kv_str("comm", reached[i].comm);
        kv_int("dev_major", major(reached[i].dev));
        kv_int("dev_minor", minor(reached[i].dev));
        kv_uint("ino", reached[i].ino);
        kv_str("last_errno", errno_name(reached[i].last_errno));
        close_obj();
    }
    close_arr();
    open_arr("writable");
    for (int i = 0; i < nhits; i++)
        put_hit(hit_how[i], hits[i].pid, hits[i].dev, hits[i].ino, hits[i].comm);
    close_arr();
    close_obj();
    fputc('\n', out);
    if (fclose(out) != 0 || rename(tmp, outpath) != 0)
        return 1;
    return 0;
}

/* Dispatch for the subcommands above; -1 when `cmd` is none of them. */
static int security_command(const char *cmd, const char *a1, const char *a2)
{
    if (strcmp(cmd, "cwd") == 0)
        return cmd_cwd();
    if (strcmp(cmd, "exe-hunt") == 0 && a1 && a2)
        return cmd_exe_hunt(a1, a2);
    return -1;
}

int main(int argc, char **argv)
{
    out = stdout;
    if (argc < 2) {
        full_report();
        return fflush(out) == 0 ? 0 : 1;
    }
    const char *cmd = argv[1];
    const char *a1 = argc > 2 ? argv[2] : NULL;
    const char *a2 = argc > 3 ? argv[3] : NULL;
    int rc;
    if (strcmp(cmd, "exit") == 0 && a1)
        return atoi(a1);
    else if (strcmp(cmd, "sleep") == 0 && a1)
        return cmd_sleep(a1);
    else if (strcmp(cmd, "kill-self") == 0 && a1)
        rc = cmd_kill_self(a1);
    else if (strcmp(cmd, "write") == 0 && a1)
        rc = cmd_write(a1, a2 ? a2 : "probe\n");
    else if (strcmp(cmd, "read") == 0 && a1)
        rc = cmd_read(a1);
    else if (strcmp(cmd, "stat") == 0 && a1)
        rc = cmd_stat(a1);
    else if (strcmp(cmd, "ls") == 0 && a1)
        rc = cmd_ls(a1);
    else if (strcmp(cmd, "sysctl") == 0 && a1)
        rc = cmd_sysctl(a1);
    else if (strcmp(cmd, "syscall") == 0 && a1)
        rc = cmd_syscall(a1, a2);
    else if (strcmp(cmd, "report") == 0 && a1) {
        /* Write to a temporary name and rename, so a reader polling for
         * the file never sees half a report. */
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s.tmp", a1);
        out = fopen(tmp, "w");
        if (!out) {
            fprintf(stderr, "probe: %s: %s\n", tmp, strerror(errno));
            return 1;
        }
        full_report();
        if (fclose(out) != 0 || rename(tmp, a1) != 0)
            return 1;
        return 0;
    } else if ((rc = security_command(cmd, a1, a2)) >= 0) {
        fflush(out);
        return rc;
    } else
        return usage();
    fflush(out);
    return rc;
}
