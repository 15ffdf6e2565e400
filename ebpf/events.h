/* The ABI between the mxc BPF probes (ebpf/mxc.bpf.c) and user space
 * (src/audit/bpf_loader.cpp, bpf_decode.cpp).  Both sides include this file;
 * every record's layout is pinned by the asserts at the bottom, so a change
 * on one side that the other did not see fails the build instead of
 * producing garbage.  Fixed-width types only; no pointers; explicit padding. */
#ifndef MXC_EBPF_EVENTS_H
#define MXC_EBPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MXC_ABI_VERSION 3

#define MXC_COMM_LEN 16
#define MXC_PATH_LEN 512     /* per path; longer paths are cut, MXC_F_PATH_TRUNC set */
#define MXC_ARGS_MAX 8       /* argv entries kept per exec */
#define MXC_ARG_LEN 64       /* bytes per argv entry, NUL included */
#define MXC_SOCKADDR_LEN 128 /* >= sizeof(struct sockaddr_un); a power of two for the verifier */
#define MXC_MAX_IDENTITIES 4096
#define MXC_NR_SYSCALLS 512  /* size of the syscall-number -> op table */
#define MXC_MAX_CGROUP_DEPTH 16 /* ancestor levels checked by the filter */

/* The filter's watched set: an open-addressed table in an array map (array
 * lookups are inlined by the verifier; a hash map lookup is a call and a
 * hash).  A cgroup id lives in one of the MXC_WATCH_PROBES slots from
 * (id & (MXC_WATCH_SLOTS - 1)); cgroup_id 0 marks a free slot.  The loader
 * fills a free slot's identity before its cgroup_id, so a reader never pairs
 * an id with the identity a reused slot held before. */
#define MXC_WATCH_SLOTS 4096 /* a power of two */
#define MXC_WATCH_PROBES 8
struct mxc_watch_slot {
    __u64 cgroup_id;
    __u32 identity;
    __u32 pad;
};

/* Record layouts (which struct follows the header). */
enum mxc_rec {
    MXC_REC_EXEC = 1,  /* struct mxc_exec_event */
    MXC_REC_FILE = 2,  /* struct mxc_file_event */
    MXC_REC_NET = 3,   /* struct mxc_net_event */
    MXC_REC_PROC = 4,  /* struct mxc_proc_event */
};

/* Stream kinds (issue 4: exec|file|net|process). */
enum mxc_kind {
    MXC_KIND_EXEC = 1,
    MXC_KIND_FILE = 2,
    MXC_KIND_NET = 3,
    MXC_KIND_PROCESS = 4,
};

enum mxc_op {
    MXC_OP_NONE = 0,
    /* process */
    MXC_OP_EXEC = 1, /* sched_process_exec: a successful exec */
    MXC_OP_FORK,
    MXC_OP_EXIT,
    MXC_OP_EXECVE,   /* syscall level; only failures are emitted */
    MXC_OP_EXECVEAT,
    /* file */
    MXC_OP_OPEN = 16,
    MXC_OP_OPENAT,
    MXC_OP_OPENAT2,
    MXC_OP_CREAT,
    MXC_OP_TRUNCATE,
    MXC_OP_UNLINK,
    MXC_OP_UNLINKAT,
    MXC_OP_RENAME,
    MXC_OP_RENAMEAT,
    MXC_OP_RENAMEAT2,
    MXC_OP_MKDIR,
    MXC_OP_MKDIRAT,
    MXC_OP_RMDIR,
    MXC_OP_LINK,
    MXC_OP_LINKAT,
    MXC_OP_SYMLINK,
    MXC_OP_SYMLINKAT,
    MXC_OP_CHMOD,
    MXC_OP_FCHMODAT,
    MXC_OP_FCHMODAT2,
    MXC_OP_CHOWN,
    MXC_OP_LCHOWN,
    MXC_OP_FCHOWNAT,
    /* network */
    MXC_OP_CONNECT = 64,
    MXC_OP_BIND,
    MXC_OP_LISTEN,
    MXC_OP_ACCEPT,
    MXC_OP_ACCEPT4,
    MXC_OP_SENDTO,
    MXC_OP_SENDMSG,
    MXC_OP_MAX_ = 96,
};

/* mxc_event_hdr.flags */
#define MXC_F_PATH_TRUNC (1u << 0)  /* path did not fit MXC_PATH_LEN */
#define MXC_F_PATH2_TRUNC (1u << 1)
#define MXC_F_ARGS_TRUNC (1u << 2)  /* more or longer argv than kept */
#define MXC_F_PATH_FAULT (1u << 3)  /* user pointer could not be read */
#define MXC_F_ADDR_KERNEL (1u << 4) /* sockaddr synthesized from the socket */
#define MXC_F_DIR_SET (1u << 5)     /* file: dir holds the directory a relative path starts from */
#define MXC_F_DIR_TRUNC (1u << 6)   /* file: that directory was too deep or long to spell out */
#define MXC_DIR_DEPTH 24            /* path components walked up for dir */

#define MXC_AT_FDCWD (-100)

struct mxc_event_hdr {
    __u16 rec;          /* enum mxc_rec */
    __u16 kind;         /* enum mxc_kind */
    __u16 op;           /* enum mxc_op */
    __u16 abi;          /* MXC_ABI_VERSION */
    __u32 identity;     /* index given to watch() */
    __u32 flags;        /* MXC_F_* */
    __u64 boot_ns;      /* bpf_ktime_get_boot_ns() at emission */
    __u64 cgroup_id;    /* cgroup v2 id of the task */
    __u32 pid;          /* tgid */
    __u32 tid;
    __u32 ppid;         /* real parent's tgid */
    __u32 uid;          /* host (init-ns) uid */
    __u32 gid;
    __u32 pad0;
    __s64 result;       /* syscall return (-errno), exit status, child pid */
    char comm[MXC_COMM_LEN];
};

struct mxc_exec_event {
    struct mxc_event_hdr hdr;
    __u32 argc;         /* bprm->argc: the real count, may exceed MXC_ARGS_MAX */
    __u32 nargs;        /* entries filled in args */
    char filename[MXC_PATH_LEN];
    char args[MXC_ARGS_MAX][MXC_ARG_LEN];
};

struct mxc_file_event {
    struct mxc_event_hdr hdr;
    __s32 dirfd;        /* MXC_AT_FDCWD or the dirfd the path is relative to */
    __s32 dirfd2;       /* for the second path of rename/link/symlink */
    __u64 flags;        /* open flags, *at flags, renameat2 flags */
    __u32 mode;
    __u32 owner_uid;    /* chown family; (u32)-1 = unchanged */
    __u32 owner_gid;
    __u32 path_len;     /* bytes of path used, its NUL included (0: none) */
    __s64 length;       /* truncate */
    char path[MXC_PATH_LEN];  /* source: open/unlink/rename old/link old/symlink target */
    char path2[MXC_PATH_LEN]; /* destination: rename new/link new/symlink linkpath */
    /* Records are cut right after path's NUL (path2 empty, no dir: the
     * common case, a few dozen bytes instead of 512) or after path2 (no
     * dir): readers zero what is missing.
     * With MXC_F_DIR_SET: the directory (dirfd's, or the cwd) a relative
     * path is resolved from, spelled out in the kernel at sys_enter as the
     * task sees it (its root is "/"), so that it survives the task. */
    char dir[MXC_PATH_LEN];
};

struct mxc_net_event {
    struct mxc_event_hdr hdr;
    __s32 fd;
    __u32 addrlen;      /* as passed; 0 when none */
    __u16 sock_type;    /* SOCK_STREAM, SOCK_DGRAM, ... (0 unknown) */
    __u16 protocol;     /* IPPROTO_* of the socket (0 unknown) */
    __u32 arg;          /* listen backlog, accept4/sendto/sendmsg flags */
    __u64 len;          /* sendto: bytes */
    __u8 sockaddr[MXC_SOCKADDR_LEN]; /* raw struct sockaddr_* */
};

struct mxc_proc_event {
    struct mxc_event_hdr hdr;
    __u32 child_pid;    /* fork: the new process */
    __u32 exit_code;    /* exit: wait status (code << 8 | signal) */
};


#ifdef __cplusplus
#define MXC_ABI_ASSERT(c, m) static_assert(c, m)
#else
#define MXC_ABI_ASSERT(c, m) _Static_assert(c, m)
#endif
#define MXC_OFF(t, f) __builtin_offsetof(struct t, f)

MXC_ABI_ASSERT(sizeof(struct mxc_event_hdr) == 80, "mxc_event_hdr layout");
MXC_ABI_ASSERT(MXC_OFF(mxc_event_hdr, identity) == 8, "hdr.identity");
MXC_ABI_ASSERT(MXC_OFF(mxc_event_hdr, boot_ns) == 16, "hdr.boot_ns");
MXC_ABI_ASSERT(MXC_OFF(mxc_event_hdr, cgroup_id) == 24, "hdr.cgroup_id");
MXC_ABI_ASSERT(MXC_OFF(mxc_event_hdr, pid) == 32, "hdr.pid");
MXC_ABI_ASSERT(MXC_OFF(mxc_event_hdr, result) == 56, "hdr.result");
MXC_ABI_ASSERT(MXC_OFF(mxc_event_hdr, comm) == 64, "hdr.comm");
MXC_ABI_ASSERT(sizeof(struct mxc_exec_event) == 80 + 8 + MXC_PATH_LEN + MXC_ARGS_MAX * MXC_ARG_LEN,
               "mxc_exec_event layout");
MXC_ABI_ASSERT(MXC_OFF(mxc_exec_event, filename) == 88, "exec.filename");
MXC_ABI_ASSERT(sizeof(struct mxc_file_event) == 80 + 40 + 3 * MXC_PATH_LEN, "mxc_file_event layout");
MXC_ABI_ASSERT(MXC_OFF(mxc_file_event, dir) == 120 + 2 * MXC_PATH_LEN, "file.dir");
MXC_ABI_ASSERT(MXC_OFF(mxc_file_event, flags) == 88, "file.flags");
MXC_ABI_ASSERT(MXC_OFF(mxc_file_event, path) == 120, "file.path");
MXC_ABI_ASSERT(sizeof(struct mxc_net_event) == 80 + 24 + MXC_SOCKADDR_LEN, "mxc_net_event layout");
MXC_ABI_ASSERT(MXC_OFF(mxc_net_event, sockaddr) == 104, "net.sockaddr");
MXC_ABI_ASSERT(sizeof(struct mxc_proc_event) == 88, "mxc_proc_event layout");
MXC_ABI_ASSERT(sizeof(struct mxc_watch_slot) == 16, "mxc_watch_slot layout");
MXC_ABI_ASSERT((MXC_WATCH_SLOTS & (MXC_WATCH_SLOTS - 1)) == 0, "MXC_WATCH_SLOTS: a power of two");

#endif
