// probe_floor OBJ [COMM]: load the programs of tests/bench/probe_floor.bpf.c (empty) or
// tests/bench/probe_pathfloor.bpf.c (COMM given: records the paths COMM opens), attach them, print
// "attached N" on stdout, and keep them attached until stdin reaches EOF or a signal ends the
// process (the links go with it). With COMM, the object's `target` map gets COMM and the openat
// number, and its `ring` is read and discarded every 20 ms, as mxcd reads its ring. Exits 1 with a
// message on stderr when a step fails.
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct target {
    uint64_t comm[2];
    uint64_t nr;
};

static int discard(void *ctx, void *data, size_t size) {
    (void)data, (void)size;
    ++*(unsigned long *)ctx;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: probe_floor OBJ.bpf.o [COMM]\n");
        return 2;
    }
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj) {
        fprintf(stderr, "probe_floor: open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int err = bpf_object__load(obj);
    if (err) {
        fprintf(stderr, "probe_floor: load %s: %s\n", argv[1], strerror(-err));
        return 1;
    }
    struct ring_buffer *rb = NULL;
    unsigned long records = 0;
    if (argc == 3) {
        struct target t;
        memset(&t, 0, sizeof t);
        if (strlen(argv[2]) > 15) {
            fprintf(stderr, "probe_floor: comm %s: longer than 15 bytes\n", argv[2]);
            return 1;
        }
        memcpy(t.comm, argv[2], strlen(argv[2]));
        t.nr = SYS_openat;
        uint32_t zero = 0;
        int tfd = bpf_object__find_map_fd_by_name(obj, "target");
        int rfd = bpf_object__find_map_fd_by_name(obj, "ring");
        if (tfd < 0 || rfd < 0) {
            fprintf(stderr, "probe_floor: %s has no target/ring map\n", argv[1]);
            return 1;
        }
        if (bpf_map_update_elem(tfd, &zero, &t, BPF_ANY) < 0) {
            fprintf(stderr, "probe_floor: set target: %s\n", strerror(errno));
            return 1;
        }
        rb = ring_buffer__new(rfd, discard, &records, NULL);
        if (!rb) {
            fprintf(stderr, "probe_floor: ring buffer: %s\n", strerror(errno));
            return 1;
        }
    }
    struct bpf_program *prog;
    int n = 0;
    bpf_object__for_each_program(prog, obj) {
        if (!bpf_program__attach(prog)) {
            fprintf(stderr, "probe_floor: attach %s: %s\n", bpf_program__name(prog), strerror(errno));
            return 1;
        }
        n++;
    }
    printf("attached %d\n", n);
    fflush(stdout);
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, rb ? 20 : -1);
        if (rb)
            ring_buffer__consume(rb);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            char buf[64];
            if (read(0, buf, sizeof buf) <= 0)
                break;
        }
    }
    if (rb) {
        ring_buffer__consume(rb);
        fprintf(stderr, "probe_floor: %lu records read\n", records);
        ring_buffer__free(rb);
    }
    return 0;
}
