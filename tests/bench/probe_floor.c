// probe_floor OBJ: load the empty programs of tests/bench/probe_floor.bpf.c, attach them, print
// "attached" on stdout, and keep them attached until stdin reaches EOF or a signal ends the
// process (the links go with it). Exits 1 with a message on stderr when a step fails.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: probe_floor OBJ.bpf.o\n");
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
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
