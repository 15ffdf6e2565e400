/* File and network syscalls, included by mxc.bpf.c (one object, one skeleton).
 * Arguments are read at sys_enter, while the user pointers are still what the
 * task passed, into a per-thread pending record; sys_exit adds the result and
 * emits it, so failures (ENOENT, EACCES, EROFS, ...) are recorded too. */

struct mxc_open_how {
    __u64 flags;
    __u64 mode;
    __u64 resolve;
};

struct mxc_user_msghdr {
    __u64 msg_name;
    __s32 msg_namelen;
};

/* len (when given): bytes used, the NUL included. */
static __always_inline __u32 read_user_path(char *dst, unsigned long src, __u32 trunc_flag, __u32 *len)
{
    dst[0] = 0;
    if (len)
        *len = 1;
    if (!src)
        return 0;
    long n = bpf_probe_read_user_str(dst, MXC_PATH_LEN, (const void *)src);
    if (n < 0) {
        dst[0] = 0;
        return MXC_F_PATH_FAULT;
    }
    if (len && n > 0)
        *len = n;
    return n == MXC_PATH_LEN ? trunc_flag : 0;
}

/* The file behind fd of the current task, or NULL. */
static __always_inline struct file *file_of_fd(long fd)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    unsigned int max = BPF_CORE_READ(fdt, max_fds);
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *f = NULL;

    if (fd < 0 || fd >= max)
        return NULL;
    bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
    return f;
}

/* Spells out the directory a relative path starts from (dirfd's, or the cwd)
 * by walking dentries and mounts up to the task's root, as d_path does.  In
 * the kernel, at sys_enter: the task may be gone when the collector reads the
 * event.  Leaves MXC_F_DIR_SET clear when it cannot. */
_Static_assert(MXC_PATH_LEN / 2 - 1 == 255, "read_dir masks offsets with 255");

/* bpf_loop callbacks are verified once, not once per unrolled iteration and
 * call site: the walk below stays cheap for the verifier. */
struct mxc_dir_walk {
    struct dentry *d, *root_d;
    struct vfsmount *vm, *root_m;
    struct mount *m;
    const unsigned char *names[32]; /* MXC_DIR_DEPTH <= 32 */
    __u32 n;
    __u32 complete;
    __u32 off;
    __u32 trunc;
    struct mxc_file_event *e;
};

static long dir_walk_step(__u64 i, struct mxc_dir_walk *w)
{
    /* Locals: CO-RE relocates kernel struct accesses, not ours. */
    struct dentry *d = w->d;
    struct vfsmount *vm = w->vm;
    struct mount *m = w->m;
    if (d == w->root_d && vm == w->root_m) {
        w->complete = 1;
        return 1;
    }
    if (d == BPF_CORE_READ(vm, mnt_root)) {
        struct mount *parent = BPF_CORE_READ(m, mnt_parent);
        if (parent == m) {
            w->complete = 1; /* the namespace's root mount */
            return 1;
        }
        w->d = BPF_CORE_READ(m, mnt_mountpoint);
        w->m = parent;
        w->vm = &parent->mnt;
        return 0;
    }
    struct dentry *up = BPF_CORE_READ(d, d_parent);
    if (up == d) {
        w->complete = 1;
        return 1;
    }
    if (w->n >= MXC_DIR_DEPTH)
        return 1;
    w->names[w->n & 31] = BPF_CORE_READ(d, d_name.name);
    w->n++;
    w->d = up;
    return 0;
}

static long dir_write_step(__u64 i, struct mxc_dir_walk *w)
{
    if (i >= w->n)
        return 1;
    __u32 j = w->n - 1 - (__u32)i;
    struct mxc_file_event *e = w->e;
    if (!e || w->off > MXC_PATH_LEN / 2 - 2) {
        w->trunc = 1;
        return 1;
    }
    __u64 pos = w->off;
    asm volatile("%0 &= 255" : "+r"(pos));
    e->dir[pos] = '/';
    pos = w->off + 1;
    asm volatile("%0 &= 255" : "+r"(pos));
    long len = bpf_probe_read_kernel_str(&e->dir[pos], MXC_PATH_LEN / 2, w->names[j & 31]);
    if (len <= 1 || len >= MXC_PATH_LEN / 2) {
        w->trunc = 1;
        return 1;
    }
    w->off += len;
    return 0;
}

/* Spells out the directory a relative path starts from (dirfd's, or the cwd)
 * by walking dentries and mounts up to the task's root, as d_path does.  In
 * the kernel, at sys_enter: the task may be gone when the collector reads the
 * event.  Leaves MXC_F_DIR_SET clear when it cannot. */
static __always_inline void read_dir(struct mxc_file_event *e, int dirfd)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct mxc_dir_walk w = {};

    w.root_d = BPF_CORE_READ(task, fs, root.dentry);
    w.root_m = BPF_CORE_READ(task, fs, root.mnt);
    if (dirfd == MXC_AT_FDCWD) {
        w.d = BPF_CORE_READ(task, fs, pwd.dentry);
        w.vm = BPF_CORE_READ(task, fs, pwd.mnt);
    } else {
        struct file *f = file_of_fd(dirfd);
        if (!f)
            return;
        w.d = BPF_CORE_READ(f, f_path.dentry);
        w.vm = BPF_CORE_READ(f, f_path.mnt);
    }
    w.m = container_of(w.vm, struct mount, mnt);
    bpf_loop(2 * MXC_DIR_DEPTH, dir_walk_step, &w, 0);
    if (!w.complete) {
        e->hdr.flags |= MXC_F_DIR_TRUNC;
        return;
    }
    e->dir[0] = '/';
    e->dir[1] = 0;
    w.e = e;
    bpf_loop(MXC_DIR_DEPTH, dir_write_step, &w, 0);
    if (w.trunc) {
        e->hdr.flags |= MXC_F_DIR_TRUNC;
        return;
    }
    e->hdr.flags |= MXC_F_DIR_SET;
}

static __always_inline int file_enter(struct pt_regs *regs, __u16 op, __u32 identity, __u64 cgroup_id)
{
    struct mxc_file_event *e =
        bpf_task_storage_get(&pending_file, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!e) {
        count_loss(identity);
        return 0;
    }

    unsigned long a0 = MXC_SYSCALL_ARG(regs, 1);
    unsigned long a1 = MXC_SYSCALL_ARG(regs, 2);
    unsigned long a2 = MXC_SYSCALL_ARG(regs, 3);
    unsigned long a3 = MXC_SYSCALL_ARG(regs, 4);
    unsigned long a4 = MXC_SYSCALL_ARG(regs, 5);
    unsigned long p1 = 0, p2 = 0;
    __u16 kind = MXC_KIND_FILE;

    fill_hdr(&e->hdr, MXC_REC_FILE, kind, op, identity, cgroup_id);
    e->dirfd = MXC_AT_FDCWD;
    e->dirfd2 = MXC_AT_FDCWD;
    e->flags = 0;
    e->mode = 0;
    e->owner_uid = (__u32)-1;
    e->owner_gid = (__u32)-1;
    e->path_len = 1;
    e->length = 0;

    switch (op) {
    case MXC_OP_EXECVE:
        kind = MXC_KIND_EXEC;
        p1 = a0;
        break;
    case MXC_OP_EXECVEAT:
        kind = MXC_KIND_EXEC;
        e->dirfd = a0, p1 = a1, e->flags = a4;
        break;
    case MXC_OP_OPEN:
        p1 = a0, e->flags = a1, e->mode = a2;
        break;
    case MXC_OP_OPENAT:
        e->dirfd = a0, p1 = a1, e->flags = a2, e->mode = a3;
        break;
    case MXC_OP_OPENAT2: {
        struct mxc_open_how how = {};
        e->dirfd = a0, p1 = a1;
        if (bpf_probe_read_user(&how, sizeof(how), (const void *)a2) == 0)
            e->flags = how.flags, e->mode = how.mode;
        break;
    }
    case MXC_OP_CREAT:
        p1 = a0, e->mode = a1, e->flags = MXC_O_CREAT_WRONLY_TRUNC;
        break;
    case MXC_OP_TRUNCATE:
        p1 = a0, e->length = a1;
        break;
    case MXC_OP_UNLINK:
    case MXC_OP_RMDIR:
        p1 = a0;
        break;
    case MXC_OP_UNLINKAT:
        e->dirfd = a0, p1 = a1, e->flags = a2;
        break;
    case MXC_OP_RENAME:
    case MXC_OP_LINK:
    case MXC_OP_SYMLINK:
        p1 = a0, p2 = a1;
        break;
    case MXC_OP_RENAMEAT:
    case MXC_OP_RENAMEAT2:
    case MXC_OP_LINKAT:
        e->dirfd = a0, p1 = a1, e->dirfd2 = a2, p2 = a3;
        if (op != MXC_OP_RENAMEAT)
            e->flags = a4;
        break;
    case MXC_OP_SYMLINKAT:
        p1 = a0, e->dirfd2 = a1, p2 = a2;
        break;
    case MXC_OP_MKDIR:
    case MXC_OP_CHMOD:
        p1 = a0, e->mode = a1;
        break;
    case MXC_OP_MKDIRAT:
    case MXC_OP_FCHMODAT:
    case MXC_OP_FCHMODAT2:
        e->dirfd = a0, p1 = a1, e->mode = a2;
        if (op == MXC_OP_FCHMODAT2)
            e->flags = a3;
        break;
    case MXC_OP_CHOWN:
    case MXC_OP_LCHOWN:
        p1 = a0, e->owner_uid = a1, e->owner_gid = a2;
        break;
    case MXC_OP_FCHOWNAT:
        e->dirfd = a0, p1 = a1, e->owner_uid = a2, e->owner_gid = a3, e->flags = a4;
        break;
    default:
        e->hdr.rec = 0; /* nothing in flight */
        return 0;
    }
    e->hdr.kind = kind;
    __u32 len1 = 1;
    e->hdr.flags |= read_user_path(e->path, p1, MXC_F_PATH_TRUNC, &len1);
    e->path_len = len1;
    e->hdr.flags |= read_user_path(e->path2, p2, MXC_F_PATH2_TRUNC, NULL);
    /* A relative path names a file below a directory the task may leave (or
     * exit) before the collector sees the event: spell that out now.  A
     * symlink's target is text, not a path; its link is path2. */
    if (op == MXC_OP_SYMLINK || op == MXC_OP_SYMLINKAT) {
        if (p2 && e->path2[0] != '/')
            read_dir(e, e->dirfd2);
    } else if (p1 && e->path[0] != '/' && !(e->hdr.flags & MXC_F_PATH_FAULT)) {
        read_dir(e, e->dirfd);
    }
    return 0; /* in flight until sys_exit */
}

/* The socket behind fd, or NULL when fd is not a socket. */
static __always_inline struct socket *socket_of_fd(long fd)
{
    struct file *f = file_of_fd(fd);
    if (!f)
        return NULL;
    if ((BPF_CORE_READ(f, f_inode, i_mode) & MXC_S_IFMT) != MXC_S_IFSOCK)
        return NULL;
    return BPF_CORE_READ(f, private_data);
}

/* Writes a struct sockaddr_in/in6 for the socket's local or peer address. */
static __always_inline void sockaddr_of_sock(struct mxc_net_event *e, struct socket *sock, bool peer)
{
    struct sock *sk = BPF_CORE_READ(sock, sk);
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    __u16 port_be = peer ? BPF_CORE_READ(sk, __sk_common.skc_dport)
                         : bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));

    __builtin_memset(e->sockaddr, 0, 28);
    __builtin_memcpy(&e->sockaddr[0], &family, 2);
    __builtin_memcpy(&e->sockaddr[2], &port_be, 2);
    if (family == MXC_AF_INET) {
        __u32 a = peer ? BPF_CORE_READ(sk, __sk_common.skc_daddr)
                       : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        __builtin_memcpy(&e->sockaddr[4], &a, 4);
        e->addrlen = 16;
    } else if (family == MXC_AF_INET6) {
        struct in6_addr a6;
        if (peer)
            BPF_CORE_READ_INTO(&a6, sk, __sk_common.skc_v6_daddr);
        else
            BPF_CORE_READ_INTO(&a6, sk, __sk_common.skc_v6_rcv_saddr);
        __builtin_memcpy(&e->sockaddr[8], &a6, sizeof(a6));
        e->addrlen = 28;
    } else {
        e->addrlen = 2;
    }
    e->hdr.flags |= MXC_F_ADDR_KERNEL;
}

static __always_inline void read_user_sockaddr(struct mxc_net_event *e, unsigned long uaddr, long len)
{
    if (!uaddr || len <= 0)
        return;
    __u32 n = len > MXC_SOCKADDR_LEN - 1 ? MXC_SOCKADDR_LEN - 1 : len;
    e->addrlen = n;
    /* Keep clang from reusing the unclamped register at the call. */
    barrier_var(n);
    n &= MXC_SOCKADDR_LEN - 1;
    bpf_probe_read_user(e->sockaddr, n, (const void *)uaddr);
}

static __always_inline int net_enter(struct pt_regs *regs, __u16 op, __u32 identity, __u64 cgroup_id)
{
    __u32 zero = 0;
    struct mxc_net_event *e = bpf_map_lookup_elem(&net_scratch, &zero);
    if (!e)
        return 0;

    unsigned long a0 = MXC_SYSCALL_ARG(regs, 1);
    unsigned long a1 = MXC_SYSCALL_ARG(regs, 2);
    unsigned long a2 = MXC_SYSCALL_ARG(regs, 3);
    unsigned long a3 = MXC_SYSCALL_ARG(regs, 4);

    fill_hdr(&e->hdr, MXC_REC_NET, MXC_KIND_NET, op, identity, cgroup_id);
    e->fd = a0;
    e->addrlen = 0;
    e->sock_type = 0;
    e->protocol = 0;
    e->arg = 0;
    e->len = 0;
    __builtin_memset(e->sockaddr, 0, sizeof(e->sockaddr));

    struct socket *sock = socket_of_fd(e->fd);
    if (sock) {
        e->sock_type = BPF_CORE_READ(sock, type);
        e->protocol = BPF_CORE_READ(sock, sk, sk_protocol);
    }

    switch (op) {
    case MXC_OP_CONNECT:
    case MXC_OP_BIND:
        read_user_sockaddr(e, a1, (long)(int)a2);
        break;
    case MXC_OP_LISTEN:
        e->arg = a1;
        if (sock)
            sockaddr_of_sock(e, sock, false);
        break;
    case MXC_OP_ACCEPT:
        break;
    case MXC_OP_ACCEPT4:
        e->arg = a3;
        break;
    case MXC_OP_SENDTO: {
        unsigned long uaddr = MXC_SYSCALL_ARG(regs, 5);
        if (!uaddr)
            return 0; /* plain send on a connected socket: the connect was recorded */
        e->len = a2;
        e->arg = a3;
        read_user_sockaddr(e, uaddr, (long)(int)MXC_SYSCALL_ARG(regs, 6));
        break;
    }
    case MXC_OP_SENDMSG: {
        struct mxc_user_msghdr mh = {};
        if (bpf_probe_read_user(&mh, sizeof(mh), (const void *)a1) || !mh.msg_name)
            return 0;
        e->arg = a2;
        read_user_sockaddr(e, mh.msg_name, mh.msg_namelen);
        break;
    }
    default:
        return 0;
    }

    __u64 key = bpf_get_current_pid_tgid();
    if (bpf_map_update_elem(&pending_net, &key, e, BPF_ANY))
        count_loss(identity);
    return 0;
}

/* 32-bit syscalls on a 64-bit kernel use another number space and other
 * registers; the agent's seccomp filter refuses them, here they are ignored
 * rather than misread (an ia32 number can alias a probed x86_64 one). */
static __always_inline bool compat_syscall(void)
{
#if defined(__TARGET_ARCH_x86)
    struct task_struct *task = bpf_get_current_task_btf();
    return task->thread_info.status & 0x0002; /* TS_COMPAT */
#else
    return false;
#endif
}

SEC("tp_btf/sys_enter")
int BPF_PROG(mxc_sys_enter, struct pt_regs *regs, long id)
{
    __u32 identity;
    __u64 cgroup_id;

    if ((unsigned long)id >= MXC_NR_SYSCALLS)
        return 0;
    __u16 op = mxc_syscall_op[id];
    if (op == MXC_OP_NONE || compat_syscall())
        return 0;
    if (!watched(&identity, &cgroup_id))
        return 0;
    if (op >= MXC_OP_CONNECT)
        return net_enter(regs, op, identity, cgroup_id);
    return file_enter(regs, op, identity, cgroup_id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(mxc_sys_exit, struct pt_regs *regs, long ret)
{
    unsigned long id = MXC_SYSCALL_NR(regs);
    if (id >= MXC_NR_SYSCALLS)
        return 0;
    __u16 op = mxc_syscall_op[id];
    if (op == MXC_OP_NONE || compat_syscall())
        return 0;

    if (op >= MXC_OP_CONNECT) {
        __u64 key = bpf_get_current_pid_tgid();
        struct mxc_net_event *e = bpf_map_lookup_elem(&pending_net, &key);
        if (!e)
            return 0;
        e->hdr.result = ret;
        e->hdr.boot_ns = bpf_ktime_get_boot_ns();
        if ((op == MXC_OP_ACCEPT || op == MXC_OP_ACCEPT4) && ret >= 0) {
            struct socket *sock = socket_of_fd(ret);
            if (sock)
                sockaddr_of_sock(e, sock, true);
        }
        if (bpf_ringbuf_output(&events, e, sizeof(*e), wake_flags(sizeof(*e))))
            count_loss(e->hdr.identity);
        bpf_map_delete_elem(&pending_net, &key);
        return 0;
    }

    /* Most tasks never had a file syscall watched: no storage at all, and
     * no call to find that out. */
    struct task_struct *task = bpf_get_current_task_btf();
    if (!task->bpf_storage)
        return 0;
    struct mxc_file_event *e = bpf_task_storage_get(&pending_file, task, 0, 0);
    /* The op check: an entry left by a syscall that never returned (the
     * task moved out of the sandbox mid-call) is not this syscall's. */
    if (!e || e->hdr.rec != MXC_REC_FILE || e->hdr.op != op)
        return 0;
    /* A successful exec is reported by sched_process_exec, with its argv. */
    if (!(e->hdr.kind == MXC_KIND_EXEC && ret == 0)) {
        e->hdr.result = ret;
        e->hdr.boot_ns = bpf_ktime_get_boot_ns();
        /* Only the buffers in use go into the ring: most file syscalls have
         * one absolute path, a third of the record. */
        __u64 size = sizeof(*e);
        if (!(e->hdr.flags & MXC_F_DIR_SET)) {
            if (e->path2[0]) {
                size = __builtin_offsetof(struct mxc_file_event, dir);
            } else {
                __u64 used = e->path_len;
                if (used < 1 || used > MXC_PATH_LEN)
                    used = MXC_PATH_LEN;
                size = __builtin_offsetof(struct mxc_file_event, path) + used;
            }
        }
        if (size > sizeof(*e))
            size = sizeof(*e);
        if (bpf_ringbuf_output(&events, e, size, wake_flags(size)))
            count_loss(e->hdr.identity);
    }
    e->hdr.rec = 0;
    return 0;
}
