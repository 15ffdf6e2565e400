// config.json parsing, validation, serialisation and the default spec.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "mxc/oci/spec.hpp"
#include "mxc/util/error.hpp"

using namespace mxc::oci;
using json = nlohmann::json;
using ::testing::HasSubstr;

namespace {

// Every Linux field of runtime-spec v1.2, with values that differ from defaults.
const char *kFullConfig = R"({
  "ociVersion": "1.2.0",
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "none", "source": "/srv/data", "options": ["rbind", "ro", "idmap"],
     "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
     "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}
  ],
  "process": {
    "terminal": true,
    "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 1000, "gid": 1001, "umask": 18, "additionalGids": [5, 6]},
    "args": ["/bin/sh", "-c", "true"],
    "env": ["PATH=/bin", "HOME=/root"],
    "cwd": "/work",
    "capabilities": {
      "bounding": ["CAP_KILL", "CAP_CHECKPOINT_RESTORE"],
      "effective": ["CAP_KILL"],
      "inheritable": ["CAP_CHOWN"],
      "permitted": ["CAP_KILL", "CAP_BPF"],
      "ambient": ["CAP_NET_RAW"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615}],
    "noNewPrivileges": true,
    "apparmorProfile": "mxc-default",
    "oomScoreAdj": -500,
    "selinuxLabel": "system_u:system_r:container_t:s0",
    "scheduler": {"policy": "SCHED_DEADLINE", "nice": -5, "priority": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"],
                  "runtime": 10, "deadline": 20, "period": 30},
    "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4}
  },
  "hostname": "box",
  "domainname": "example.org",
  "hooks": {
    "prestart": [{"path": "/usr/bin/old"}],
    "createRuntime": [{"path": "/usr/bin/net", "args": ["net", "up"], "env": ["A=1"], "timeout": 5}],
    "createContainer": [{"path": "/bin/cc"}],
    "startContainer": [{"path": "/bin/sc"}],
    "poststart": [{"path": "/bin/ps1"}],
    "poststop": [{"path": "/bin/stop"}]
  },
  "annotations": {"org.example.key": "value"},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": 1001, "size": 1}],
    "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20"},
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
      "memory": {"limit": 536870912, "reservation": 1000, "swap": -1, "kernel": 1, "kernelTCP": 2, "swappiness": 60,
                 "disableOOMKiller": true, "useHierarchy": false, "checkBeforeUpdate": true},
      "cpu": {"shares": 1024, "quota": 50000, "burst": 1000, "period": 100000, "realtimeRuntime": 950,
              "realtimePeriod": 1000, "cpus": "0-1", "mems": "0", "idle": 1},
      "pids": {"limit": 64},
      "blockIO": {"weight": 500, "leafWeight": 300,
                  "weightDevice": [{"major": 8, "minor": 0, "weight": 200, "leafWeight": 100}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                  "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2}],
                  "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
      "unified": {"memory.high": "max", "io.weight": "default 100"}
    },
    "cgroupsPath": "/mxc/test",
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                   {"type": "user"}, {"type": "cgroup"}, {"type": "time"}],
    "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/fifo", "type": "p"}],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "listenerPath": "/run/mxc/notify.sock",
      "listenerMetadata": "agent=1",
      "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 255, "valueTwo": 7, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["openat"], "action": "SCMP_ACT_NOTIFY"}
      ]
    },
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "system_u:object_r:container_file_t:s0",
    "personality": {"domain": "LINUX32"},
    "timeOffsets": {"monotonic": {"secs": -10, "nanosecs": 5}, "boottime": {"secs": 100}}
  }
})";

json full() { return json::parse(kFullConfig); }

// A small config that passes validate().
json minimal() {
    return json::parse(R"({
      "ociVersion": "1.0.2",
      "root": {"path": "rootfs"},
      "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
      "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    })");
}

std::string parse_error(const json &j) {
    try {
        parse_spec_json(j);
    } catch (const mxc::Error &e) {
        return e.what();
    }
    return "(no error)";
}

std::string validate_error(const json &j) {
    try {
        validate(parse_spec_json(j));
    } catch (const mxc::Error &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

// ---- parsing: values ------------------------------------------------------

TEST(OciParse, FullConfigTopLevelAndProcess) {
    Spec s = parse_spec(kFullConfig);
    EXPECT_EQ(s.oci_version, "1.2.0");
    ASSERT_TRUE(s.root);
    EXPECT_EQ(s.root->path, "rootfs");
    EXPECT_TRUE(s.root->readonly);
    ASSERT_EQ(s.mounts.size(), 2u);
    EXPECT_EQ(s.mounts[1].destination, "/data");
    EXPECT_EQ(s.mounts[1].source, "/srv/data");
    EXPECT_THAT(s.mounts[1].options, ::testing::ElementsAre("rbind", "ro", "idmap"));
    ASSERT_EQ(s.mounts[1].uid_mappings.size(), 1u);
    EXPECT_EQ(s.mounts[1].uid_mappings[0].host_id, 100000u);
    EXPECT_EQ(s.mounts[1].gid_mappings[0].host_id, 200000u);
    EXPECT_EQ(s.hostname, "box");
    EXPECT_EQ(s.domainname, "example.org");
    EXPECT_EQ(s.annotations.at("org.example.key"), "value");

    ASSERT_TRUE(s.process);
    const Process &p = *s.process;
    EXPECT_TRUE(p.terminal);
    ASSERT_TRUE(p.console_size);
    EXPECT_EQ(p.console_size->height, 25u);
    EXPECT_EQ(p.console_size->width, 80u);
    EXPECT_EQ(p.user.uid, 1000u);
    EXPECT_EQ(p.user.gid, 1001u);
    EXPECT_EQ(p.user.umask, 18u);
    EXPECT_THAT(p.user.additional_gids, ::testing::ElementsAre(5u, 6u));
    EXPECT_THAT(p.args, ::testing::ElementsAre("/bin/sh", "-c", "true"));
    EXPECT_EQ(p.env.size(), 2u);
    EXPECT_EQ(p.cwd, "/work");
    ASSERT_TRUE(p.capabilities);
    EXPECT_THAT(p.capabilities->bounding, ::testing::ElementsAre("CAP_KILL", "CAP_CHECKPOINT_RESTORE"));
    EXPECT_THAT(p.capabilities->inheritable, ::testing::ElementsAre("CAP_CHOWN"));
    EXPECT_THAT(p.capabilities->permitted, ::testing::ElementsAre("CAP_KILL", "CAP_BPF"));
    EXPECT_THAT(p.capabilities->ambient, ::testing::ElementsAre("CAP_NET_RAW"));
    ASSERT_EQ(p.rlimits.size(), 2u);
    EXPECT_EQ(p.rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_EQ(p.rlimits[0].soft, 1024u);
    EXPECT_EQ(p.rlimits[0].hard, 4096u);
    EXPECT_EQ(p.rlimits[1].hard, UINT64_MAX);
    EXPECT_TRUE(p.no_new_privileges);
    EXPECT_EQ(p.apparmor_profile, "mxc-default");
    EXPECT_EQ(p.oom_score_adj, -500);
    EXPECT_EQ(p.selinux_label, "system_u:system_r:container_t:s0");
    ASSERT_TRUE(p.scheduler);
    EXPECT_EQ(p.scheduler->policy, "SCHED_DEADLINE");
    EXPECT_EQ(p.scheduler->nice, -5);
    EXPECT_EQ(p.scheduler->priority, 3);
    EXPECT_EQ(p.scheduler->period, 30u);
    EXPECT_THAT(p.scheduler->flags, ::testing::ElementsAre("SCHED_FLAG_RESET_ON_FORK"));
    ASSERT_TRUE(p.io_priority);
    EXPECT_EQ(p.io_priority->io_class, "IOPRIO_CLASS_BE");
    EXPECT_EQ(p.io_priority->priority, 4);

    ASSERT_TRUE(s.hooks);
    ASSERT_EQ(s.hooks->prestart.size(), 1u);
    EXPECT_EQ(s.hooks->prestart[0].path, "/usr/bin/old");
    ASSERT_EQ(s.hooks->create_runtime.size(), 1u);
    EXPECT_THAT(s.hooks->create_runtime[0].args, ::testing::ElementsAre("net", "up"));
    EXPECT_EQ(s.hooks->create_runtime[0].timeout, 5);
    EXPECT_EQ(s.hooks->create_container[0].path, "/bin/cc");
    EXPECT_EQ(s.hooks->start_container[0].path, "/bin/sc");
    EXPECT_EQ(s.hooks->poststart[0].path, "/bin/ps1");
    EXPECT_EQ(s.hooks->poststop[0].path, "/bin/stop");
}

TEST(OciParse, FullConfigLinux) {
    Spec s = parse_spec(kFullConfig);
    ASSERT_TRUE(s.linux_);
    const Linux &l = *s.linux_;
    EXPECT_EQ(l.uid_mappings[0].host_id, 1000u);
    EXPECT_EQ(l.gid_mappings[0].host_id, 1001u);
    EXPECT_EQ(l.sysctl.at("net.ipv4.ip_forward"), "1");
    EXPECT_EQ(l.cgroups_path, "/mxc/test");
    ASSERT_EQ(l.namespaces.size(), 8u);
    EXPECT_EQ(l.namespaces[7].type, "time");
    ASSERT_EQ(l.devices.size(), 2u);
    EXPECT_EQ(l.devices[0].major, 10);
    EXPECT_EQ(l.devices[0].minor, 229);
    EXPECT_EQ(l.devices[0].file_mode, 438u);
    EXPECT_EQ(l.devices[1].type, "p");
    EXPECT_EQ(l.rootfs_propagation, "rslave");
    EXPECT_THAT(l.masked_paths, ::testing::ElementsAre("/proc/kcore"));
    EXPECT_THAT(l.readonly_paths, ::testing::ElementsAre("/proc/sys"));
    EXPECT_EQ(l.mount_label, "system_u:object_r:container_file_t:s0");
    ASSERT_TRUE(l.personality);
    EXPECT_EQ(l.personality->domain, "LINUX32");
    EXPECT_EQ(l.time_offsets.at("monotonic").secs, -10);
    EXPECT_EQ(l.time_offsets.at("monotonic").nanosecs, 5u);
    EXPECT_EQ(l.time_offsets.at("boottime").secs, 100);

    ASSERT_TRUE(l.seccomp);
    const Seccomp &sc = *l.seccomp;
    EXPECT_EQ(sc.default_action, "SCMP_ACT_ERRNO");
    EXPECT_EQ(sc.default_errno_ret, 1u);
    EXPECT_THAT(sc.architectures, ::testing::ElementsAre("SCMP_ARCH_X86_64", "SCMP_ARCH_X86"));
    EXPECT_THAT(sc.flags, ::testing::ElementsAre("SECCOMP_FILTER_FLAG_LOG"));
    EXPECT_EQ(sc.listener_path, "/run/mxc/notify.sock");
    EXPECT_EQ(sc.listener_metadata, "agent=1");
    ASSERT_EQ(sc.syscalls.size(), 4u);
    EXPECT_THAT(sc.syscalls[0].names, ::testing::ElementsAre("read", "write"));
    ASSERT_EQ(sc.syscalls[1].args.size(), 2u);
    EXPECT_EQ(sc.syscalls[1].args[1].index, 1u);
    EXPECT_EQ(sc.syscalls[1].args[1].value, 255u);
    EXPECT_EQ(sc.syscalls[1].args[1].value_two, 7u);
    EXPECT_EQ(sc.syscalls[1].args[1].op, "SCMP_CMP_MASKED_EQ");
    EXPECT_EQ(sc.syscalls[2].errno_ret, 13u);
    EXPECT_EQ(sc.syscalls[3].action, "SCMP_ACT_NOTIFY");
}

TEST(OciParse, FullConfigResources) {
    Spec s = parse_spec(kFullConfig);
    ASSERT_TRUE(s.linux_ && s.linux_->resources);
    const Resources &r = *s.linux_->resources;
    ASSERT_EQ(r.devices.size(), 2u);
    EXPECT_FALSE(r.devices[0].allow);
    EXPECT_EQ(r.devices[0].type, "a"); // default when absent
    EXPECT_FALSE(r.devices[0].major);
    EXPECT_TRUE(r.devices[1].allow);
    EXPECT_EQ(r.devices[1].type, "c");
    EXPECT_EQ(r.devices[1].major, 1);
    EXPECT_EQ(r.devices[1].access, "rw");
    ASSERT_TRUE(r.memory);
    EXPECT_EQ(r.memory->limit, 536870912);
    EXPECT_EQ(r.memory->swap, -1);
    EXPECT_EQ(r.memory->kernel_tcp, 2);
    EXPECT_EQ(r.memory->swappiness, 60u);
    EXPECT_EQ(r.memory->disable_oom_killer, true);
    EXPECT_EQ(r.memory->use_hierarchy, false);
    EXPECT_EQ(r.memory->check_before_update, true);
    ASSERT_TRUE(r.cpu);
    EXPECT_EQ(r.cpu->shares, 1024u);
    EXPECT_EQ(r.cpu->quota, 50000);
    EXPECT_EQ(r.cpu->burst, 1000);
    EXPECT_EQ(r.cpu->realtime_period, 1000u);
    EXPECT_EQ(r.cpu->cpus, "0-1");
    EXPECT_EQ(r.cpu->idle, true);
    ASSERT_TRUE(r.pids);
    EXPECT_EQ(r.pids->limit, 64);
    ASSERT_TRUE(r.block_io);
    EXPECT_EQ(r.block_io->weight, 500);
    EXPECT_EQ(r.block_io->leaf_weight, 300);
    EXPECT_EQ(r.block_io->weight_device[0].leaf_weight, 100);
    EXPECT_EQ(r.block_io->throttle_read_bps[0].rate, 1048576u);
    EXPECT_EQ(r.block_io->throttle_write_iops[0].rate, 4u);
    ASSERT_EQ(r.hugepage_limits.size(), 1u);
    EXPECT_EQ(r.hugepage_limits[0].page_size, "2MB");
    EXPECT_EQ(r.unified.at("io.weight"), "default 100");
}

TEST(OciParse, NullMeansAbsent) {
    json j = minimal();
    j["mounts"] = nullptr;
    j["hooks"] = nullptr;
    j["process"]["env"] = nullptr;
    Spec s = parse_spec_json(j);
    EXPECT_TRUE(s.mounts.empty());
    EXPECT_FALSE(s.hooks);
    EXPECT_TRUE(s.process->env.empty());
}

TEST(OciParse, StandaloneProcessAndResources) {
    Process p = parse_process(json::parse(R"({"args": ["ls"], "cwd": "/tmp", "user": {"uid": 7, "gid": 8}})"),
                              "process.json");
    EXPECT_EQ(p.user.uid, 7u);
    EXPECT_EQ(p.cwd, "/tmp");
    try {
        parse_process(json::parse(R"({"args": ["ls"], "cwd": 3})"), "process.json");
        FAIL() << "no error";
    } catch (const mxc::Error &e) {
        EXPECT_STREQ(e.what(), "process.json: .cwd: expected string, got integer 3");
    }
    Resources r = parse_resources(json::parse(R"({"pids": {"limit": 10}, "memory": {"limit": 4096}})"), "res.json");
    EXPECT_EQ(r.pids->limit, 10);
    EXPECT_EQ(r.memory->limit, 4096);
    try {
        parse_resources(json::parse(R"({"rdma": {}})"), "res.json");
        FAIL() << "no error";
    } catch (const mxc::Error &e) {
        EXPECT_STREQ(e.what(), "res.json: .rdma: not supported");
    }
}

TEST(OciParse, LoadSpecNamesTheFile) {
    char tmpl[] = "/tmp/mxc-oci-test-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    std::ofstream(tmpl) << R"({"ociVersion": "1.0.0", "hostname": 5})";
    try {
        load_spec(tmpl);
        FAIL() << "no error";
    } catch (const mxc::Error &e) {
        EXPECT_EQ(std::string(e.what()), std::string(tmpl) + ": .hostname: expected string, got integer 5");
    }
    std::ofstream(tmpl) << R"({"ociVersion": "1.0.0", "hostname": "h"})";
    EXPECT_EQ(load_spec(tmpl).hostname, "h");
    unlink(tmpl);
}

TEST(OciParse, InvalidJson) {
    try {
        parse_spec("{\"ociVersion\": ", "bundle/config.json");
        FAIL() << "no error";
    } catch (const mxc::Error &e) {
        EXPECT_THAT(e.what(), HasSubstr("bundle/config.json: invalid JSON"));
    }
}

// ---- parsing: errors ------------------------------------------------------

TEST(OciParseErrors, UnknownFieldsAreRejected) {
    json j = full();
    j["linux"]["intelRdt"] = {{"closID", "x"}};
    EXPECT_EQ(parse_error(j), "config.json: .linux.intelRdt: not supported");

    j = full();
    j["process"]["commandLine"] = "x";
    EXPECT_EQ(parse_error(j), "config.json: .process.commandLine: not supported");

    j = full();
    j["process"]["user"]["username"] = "root";
    EXPECT_EQ(parse_error(j), "config.json: .process.user.username: not supported");

    j = full();
    j["linux"]["resources"]["network"] = {{"classID", 1}};
    EXPECT_EQ(parse_error(j), "config.json: .linux.resources.network: not supported");

    j = full();
    j["mounts"][1]["propagation"] = "shared";
    EXPECT_EQ(parse_error(j), "config.json: .mounts[1].propagation: not supported");

    j = full();
    j["linux"]["seccomp"]["syscalls"][1]["args"][0]["extra"] = 1;
    EXPECT_EQ(parse_error(j), "config.json: .linux.seccomp.syscalls[1].args[0].extra: not supported");

    j = full();
    j["hooks"]["prestop"] = json::array();
    EXPECT_EQ(parse_error(j), "config.json: .hooks.prestop: not supported");

    j = full();
    j["linux"]["timeOffsets"]["realtime"] = {{"secs", 1}};
    EXPECT_EQ(parse_error(j), "config.json: .linux.timeOffsets.realtime: not supported");

    j = full();
    j["Hostname"] = "x"; // case matters, as in Go's strict decoding
    EXPECT_EQ(parse_error(j), "config.json: .Hostname: not supported");
}

TEST(OciParseErrors, OtherPlatformsAreNotSupported) {
    for (const char *section : {"windows", "solaris", "vm", "zos"}) {
        json j = minimal();
        j[section] = json::object();
        EXPECT_EQ(parse_error(j), fmt::format("config.json: .{}: not supported", section));
    }
}

TEST(OciParseErrors, TypeErrorsNameThePath) {
    json j = full();
    j["process"]["user"]["uid"] = "0";
    EXPECT_EQ(parse_error(j), "config.json: .process.user.uid: expected unsigned integer, got string");

    j = full();
    j["process"]["user"]["uid"] = -1;
    EXPECT_EQ(parse_error(j), "config.json: .process.user.uid: expected unsigned integer, got integer -1");

    j = full();
    j["process"]["user"]["gid"] = 4294967296ULL;
    EXPECT_EQ(parse_error(j), "config.json: .process.user.gid: 4294967296 out of range (maximum 4294967295)");

    j = full();
    j["process"]["rlimits"][0]["soft"] = 1.5;
    EXPECT_EQ(parse_error(j), "config.json: .process.rlimits[0].soft: expected unsigned integer, got number 1.5");

    j = full();
    j["process"]["terminal"] = "yes";
    EXPECT_EQ(parse_error(j), "config.json: .process.terminal: expected boolean, got string");

    j = full();
    j["process"]["args"][1] = 7;
    EXPECT_EQ(parse_error(j), "config.json: .process.args[1]: expected string, got integer 7");

    j = full();
    j["mounts"] = json::object();
    EXPECT_EQ(parse_error(j), "config.json: .mounts: expected array, got object");

    j = full();
    j["linux"]["sysctl"]["net.core.somaxconn"] = 1024;
    EXPECT_EQ(parse_error(j),
              "config.json: .linux.sysctl[\"net.core.somaxconn\"]: expected string, got integer 1024");

    j = full();
    j["linux"]["resources"]["memory"]["limit"] = "1G";
    EXPECT_EQ(parse_error(j), "config.json: .linux.resources.memory.limit: expected integer, got string");

    j = full();
    j["linux"]["resources"]["memory"]["swappiness"] = 101;
    EXPECT_EQ(parse_error(j), "config.json: .linux.resources.memory.swappiness: 101 out of range (maximum 100)");

    j = full();
    j["process"]["oomScoreAdj"] = 3000000000ULL;
    EXPECT_THAT(parse_error(j), HasSubstr("config.json: .process.oomScoreAdj: 3000000000 out of range"));

    EXPECT_EQ(parse_error(json::array()), "config.json: .: expected object, got array");
}

TEST(OciParseErrors, RequiredFields) {
    json j = full();
    j["mounts"][0].erase("destination");
    EXPECT_EQ(parse_error(j), "config.json: .mounts[0].destination: required field missing");

    j = full();
    j["linux"]["uidMappings"][0].erase("size");
    EXPECT_EQ(parse_error(j), "config.json: .linux.uidMappings[0].size: required field missing");

    j = full();
    j["linux"]["seccomp"].erase("defaultAction");
    EXPECT_EQ(parse_error(j), "config.json: .linux.seccomp.defaultAction: required field missing");

    j = full();
    j["process"]["rlimits"][1].erase("hard");
    EXPECT_EQ(parse_error(j), "config.json: .process.rlimits[1].hard: required field missing");

    j = full();
    j["linux"]["resources"]["devices"][0].erase("allow");
    EXPECT_EQ(parse_error(j), "config.json: .linux.resources.devices[0].allow: required field missing");
}

TEST(OciParseErrors, NamespaceType) {
    json j = full();
    j["linux"]["namespaces"][2]["type"] = "pidd";
    EXPECT_EQ(parse_error(j), "config.json: .linux.namespaces[2].type: unknown namespace \"pidd\"");
}

TEST(OciParseErrors, EnumeratedValues) {
    struct Case {
        json::json_pointer ptr;
        json value;
        std::string expected;
    };
    const Case cases[] = {
        {json::json_pointer("/linux/rootfsPropagation"), "recursive",
         ".linux.rootfsPropagation: unknown propagation \"recursive\""},
        {json::json_pointer("/linux/devices/0/type"), "x", ".linux.devices[0].type: unknown device type \"x\""},
        {json::json_pointer("/linux/resources/devices/1/type"), "p",
         ".linux.resources.devices[1].type: unknown device type \"p\""},
        {json::json_pointer("/linux/resources/devices/1/access"), "rwx",
         ".linux.resources.devices[1].access: unknown device access \"rwx\" (a combination of r, w, m)"},
        {json::json_pointer("/linux/seccomp/defaultAction"), "SCMP_ACT_DENY",
         ".linux.seccomp.defaultAction: unknown seccomp action \"SCMP_ACT_DENY\""},
        {json::json_pointer("/linux/seccomp/syscalls/2/action"), "ALLOW",
         ".linux.seccomp.syscalls[2].action: unknown seccomp action \"ALLOW\""},
        {json::json_pointer("/linux/seccomp/syscalls/1/args/0/op"), "SCMP_CMP_IN",
         ".linux.seccomp.syscalls[1].args[0].op: unknown seccomp operator \"SCMP_CMP_IN\""},
        {json::json_pointer("/linux/seccomp/syscalls/1/args/0/index"), 6,
         ".linux.seccomp.syscalls[1].args[0].index: 6 out of range (maximum 5)"},
        {json::json_pointer("/linux/seccomp/architectures/0"), "SCMP_ARCH_Z80",
         ".linux.seccomp.architectures[0]: unknown seccomp architecture \"SCMP_ARCH_Z80\""},
        {json::json_pointer("/linux/seccomp/flags/0"), "SECCOMP_FILTER_FLAG_X",
         ".linux.seccomp.flags[0]: unknown seccomp flag \"SECCOMP_FILTER_FLAG_X\""},
        {json::json_pointer("/process/rlimits/0/type"), "RLIMIT_FOO",
         ".process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\""},
        {json::json_pointer("/process/capabilities/ambient/0"), "CAP_NET_RAWW",
         ".process.capabilities.ambient[0]: unknown capability \"CAP_NET_RAWW\""},
        {json::json_pointer("/process/capabilities/bounding/0"), "KILL",
         ".process.capabilities.bounding[0]: unknown capability \"KILL\""},
        {json::json_pointer("/process/scheduler/policy"), "SCHED_FAIR",
         ".process.scheduler.policy: unknown scheduler policy \"SCHED_FAIR\""},
        {json::json_pointer("/process/scheduler/flags/0"), "SCHED_FLAG_X",
         ".process.scheduler.flags[0]: unknown scheduler flag \"SCHED_FLAG_X\""},
        {json::json_pointer("/process/ioPriority/class"), "IOPRIO_CLASS_NONE",
         ".process.ioPriority.class: unknown ioPriority class \"IOPRIO_CLASS_NONE\""},
        {json::json_pointer("/process/ioPriority/priority"), 8,
         ".process.ioPriority.priority: 8 out of range (0..7)"},
        {json::json_pointer("/linux/personality/domain"), "LINUX64",
         ".linux.personality.domain: unknown personality domain \"LINUX64\""},
        {json::json_pointer("/linux/personality/flags"), json::array({"ADDR_NO_RANDOMIZE"}),
         ".linux.personality.flags[0]: unknown personality flag \"ADDR_NO_RANDOMIZE\""},
        {json::json_pointer("/linux/timeOffsets/monotonic/nanosecs"), 1000000000,
         ".linux.timeOffsets.monotonic.nanosecs: 1000000000 out of range (maximum 999999999)"},
        {json::json_pointer("/process/user/umask"), 4096, ".process.user.umask: 4096 out of range (maximum 4095)"},
    };
    for (const auto &c : cases) {
        json j = full();
        j[c.ptr] = c.value;
        EXPECT_EQ(parse_error(j), "config.json: " + c.expected) << c.ptr.to_string();
    }
}

TEST(OciParseErrors, AllKernelCapabilitiesAccepted) {
    json j = minimal();
    j["process"]["capabilities"]["bounding"] = {
        "CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
    EXPECT_EQ(parse_error(j), "(no error)");
}

// ---- validation -----------------------------------------------------------

TEST(OciValidate, GoodConfigs) {
    EXPECT_EQ(validate_error(minimal()), "(no error)");
    EXPECT_EQ(validate_error(full()), "(no error)");
}

TEST(OciValidate, Rules) {
    struct Case {
        const char *name;
        std::function<void(json &)> edit;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {"version missing", [](json &j) { j.erase("ociVersion"); }, ".ociVersion: required field missing"},
        {"version 2", [](json &j) { j["ociVersion"] = "2.0.0"; }, ".ociVersion: unsupported version \"2.0.0\""},
        {"version junk", [](json &j) { j["ociVersion"] = "1.x"; }, ".ociVersion: unsupported version \"1.x\""},
        {"root missing", [](json &j) { j.erase("root"); }, ".root: required field missing"},
        {"root empty", [](json &j) { j["root"]["path"] = ""; }, ".root.path: must not be empty"},
        {"args empty", [](json &j) { j["process"]["args"] = json::array(); },
         ".process.args: must contain at least one entry"},
        {"cwd missing", [](json &j) { j["process"].erase("cwd"); }, ".process.cwd: required field missing"},
        {"cwd relative", [](json &j) { j["process"]["cwd"] = "work"; },
         ".process.cwd: must be an absolute path, got \"work\""},
        {"consoleSize without terminal",
         [](json &j) { j["process"]["consoleSize"] = {{"height", 1}, {"width", 2}}; },
         ".process.consoleSize: only allowed when .process.terminal is true"},
        {"oomScoreAdj high", [](json &j) { j["process"]["oomScoreAdj"] = 1001; },
         ".process.oomScoreAdj: 1001 out of range (-1000..1000)"},
        {"oomScoreAdj low", [](json &j) { j["process"]["oomScoreAdj"] = -1001; },
         ".process.oomScoreAdj: -1001 out of range (-1000..1000)"},
        {"rlimit duplicate",
         [](json &j) {
             j["process"]["rlimits"] = json::parse(R"([{"type":"RLIMIT_NOFILE","soft":1,"hard":1},
                                                       {"type":"RLIMIT_NOFILE","soft":2,"hard":2}])");
         },
         ".process.rlimits[1].type: duplicate rlimit \"RLIMIT_NOFILE\""},
        {"rlimit soft > hard",
         [](json &j) { j["process"]["rlimits"] = json::parse(R"([{"type":"RLIMIT_CORE","soft":2,"hard":1}])"); },
         ".process.rlimits[0]: soft limit 2 exceeds hard limit 1"},
        {"mount relative",
         [](json &j) { j["mounts"] = json::parse(R"([{"destination":"proc","type":"proc"}])"); },
         ".mounts[0].destination: must be an absolute path, got \"proc\""},
        {"mount empty", [](json &j) { j["mounts"] = json::parse(R"([{"destination":""}])"); },
         ".mounts[0].destination: must be an absolute path"},
        {"mount half idmap",
         [](json &j) {
             j["mounts"] = json::parse(
                 R"([{"destination":"/a","uidMappings":[{"containerID":0,"hostID":1,"size":1}]}])");
         },
         ".mounts[0]: uidMappings and gidMappings must be given together"},
        {"hook relative", [](json &j) { j["hooks"]["poststop"] = json::parse(R"([{"path":"hook"}])"); },
         ".hooks.poststop[0].path: must be an absolute path, got \"hook\""},
        {"hook timeout", [](json &j) { j["hooks"]["prestart"] = json::parse(R"([{"path":"/h","timeout":0}])"); },
         ".hooks.prestart[0].timeout: must be greater than zero, got 0"},
        {"annotation empty key", [](json &j) { j["annotations"] = {{"", "v"}}; },
         ".annotations: keys must not be empty"},
        {"duplicate namespace", [](json &j) { j["linux"]["namespaces"].push_back({{"type", "pid"}}); },
         ".linux.namespaces[2].type: duplicate namespace \"pid\""},
        {"namespace path relative",
         [](json &j) { j["linux"]["namespaces"][0]["path"] = "proc/1/ns/pid"; },
         ".linux.namespaces[0].path: must be an absolute path, got \"proc/1/ns/pid\""},
        {"new userns without uid maps",
         [](json &j) {
             j["linux"]["namespaces"].push_back({{"type", "user"}});
             j["linux"]["gidMappings"] = json::parse(R"([{"containerID":0,"hostID":1000,"size":1}])");
         },
         ".linux.uidMappings: required when a new user namespace is created"},
        {"new userns without gid maps",
         [](json &j) {
             j["linux"]["namespaces"].push_back({{"type", "user"}});
             j["linux"]["uidMappings"] = json::parse(R"([{"containerID":0,"hostID":1000,"size":1}])");
         },
         ".linux.gidMappings: required when a new user namespace is created"},
        {"maps without userns",
         [](json &j) { j["linux"]["uidMappings"] = json::parse(R"([{"containerID":0,"hostID":1000,"size":1}])"); },
         ".linux.uidMappings: mappings given without a user namespace"},
        {"map size zero",
         [](json &j) {
             j["linux"]["namespaces"].push_back({{"type", "user"}});
             j["linux"]["uidMappings"] = json::parse(R"([{"containerID":0,"hostID":1000,"size":0}])");
             j["linux"]["gidMappings"] = json::parse(R"([{"containerID":0,"hostID":1000,"size":1}])");
         },
         ".linux.uidMappings[0].size: must be greater than zero"},
        {"hostname without uts", [](json &j) { j["hostname"] = "box"; },
         ".hostname: requires a uts namespace in .linux.namespaces"},
        {"domainname without uts", [](json &j) { j["domainname"] = "example.org"; },
         ".domainname: requires a uts namespace in .linux.namespaces"},
        {"host sysctl", [](json &j) { j["linux"]["sysctl"] = {{"vm.swappiness", "10"}}; },
         ".linux.sysctl[\"vm.swappiness\"]: not a namespaced sysctl"},
        {"kernel sysctl", [](json &j) { j["linux"]["sysctl"] = {{"kernel.pid_max", "10"}}; },
         ".linux.sysctl[\"kernel.pid_max\"]: not a namespaced sysctl"},
        {"net sysctl without netns", [](json &j) { j["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}}; },
         ".linux.sysctl[\"net.ipv4.ip_forward\"]: requires a network namespace"},
        {"net sysctl slash form without netns",
         [](json &j) { j["linux"]["sysctl"] = {{"net/ipv4/ip_forward", "1"}}; },
         ".linux.sysctl[\"net/ipv4/ip_forward\"]: requires a network namespace"},
        {"ipc sysctl without ipcns", [](json &j) { j["linux"]["sysctl"] = {{"kernel.shmmax", "1"}}; },
         ".linux.sysctl[\"kernel.shmmax\"]: requires an ipc namespace"},
        {"mqueue sysctl without ipcns", [](json &j) { j["linux"]["sysctl"] = {{"fs.mqueue.msg_max", "1"}}; },
         ".linux.sysctl[\"fs.mqueue.msg_max\"]: requires an ipc namespace"},
        {"hostname sysctl without uts", [](json &j) { j["linux"]["sysctl"] = {{"kernel.hostname", "h"}}; },
         ".linux.sysctl[\"kernel.hostname\"]: requires a uts namespace"},
        {"hostname sysctl conflicts",
         [](json &j) {
             j["linux"]["namespaces"].push_back({{"type", "uts"}});
             j["hostname"] = "a";
             j["linux"]["sysctl"] = {{"kernel.hostname", "b"}};
         },
         ".linux.sysctl[\"kernel.hostname\"]: conflicts with .hostname"},
        {"time offsets without timens",
         [](json &j) { j["linux"]["timeOffsets"] = json::parse(R"({"boottime":{"secs":1}})"); },
         ".linux.timeOffsets: requires a time namespace"},
        {"time offsets with joined timens",
         [](json &j) {
             j["linux"]["namespaces"].push_back({{"type", "time"}, {"path", "/proc/1/ns/time"}});
             j["linux"]["timeOffsets"] = json::parse(R"({"boottime":{"secs":1}})");
         },
         ".linux.timeOffsets: cannot be set when joining an existing time namespace"},
        {"masked relative", [](json &j) { j["linux"]["maskedPaths"] = {"proc/kcore"}; },
         ".linux.maskedPaths[0]: must be an absolute path"},
        {"readonly relative", [](json &j) { j["linux"]["readonlyPaths"] = {"/ok", "sys"}; },
         ".linux.readonlyPaths[1]: must be an absolute path"},
        {"device relative",
         [](json &j) { j["linux"]["devices"] = json::parse(R"([{"path":"dev/null","type":"c","major":1,"minor":3}])"); },
         ".linux.devices[0].path: must be an absolute path"},
        {"device mode",
         [](json &j) {
             j["linux"]["devices"] =
                 json::parse(R"([{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":8630}])");
         },
         ".linux.devices[0].fileMode: 20666 has bits outside the permission bits"},
        {"seccomp notify default",
         [](json &j) { j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_NOTIFY"}, {"listenerPath", "/s"}}; },
         ".linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
        {"seccomp errno on allow",
         [](json &j) { j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"defaultErrnoRet", 1}}; },
         ".linux.seccomp.defaultErrnoRet: only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"},
        {"seccomp notify without listener",
         [](json &j) {
             j["linux"]["seccomp"] = json::parse(
                 R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],"action":"SCMP_ACT_NOTIFY"}]})");
         },
         ".linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY requires .linux.seccomp.listenerPath"},
        {"seccomp empty names",
         [](json &j) {
             j["linux"]["seccomp"] = json::parse(
                 R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_LOG"}]})");
         },
         ".linux.seccomp.syscalls[0].names: must contain at least one syscall name"},
        {"seccomp errnoRet on kill",
         [](json &j) {
             j["linux"]["seccomp"] = json::parse(
                 R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_KILL","errnoRet":1}]})");
         },
         ".linux.seccomp.syscalls[0].errnoRet: only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"},
    };
    for (const auto &c : cases) {
        json j = minimal();
        c.edit(j);
        EXPECT_THAT(validate_error(j), HasSubstr("config.json: " + c.expected)) << c.name;
    }
}

TEST(OciValidate, AllowedCombinations) {
    json j = minimal();
    // Joining an existing user namespace needs no maps of ours.
    j["linux"]["namespaces"].push_back({{"type", "user"}, {"path", "/proc/42/ns/user"}});
    // net.* is fine in a joined network namespace (pods share one).
    j["linux"]["namespaces"].push_back({{"type", "network"}, {"path", "/run/netns/pod"}});
    j["linux"]["namespaces"].push_back({{"type", "ipc"}});
    j["linux"]["namespaces"].push_back({{"type", "uts"}});
    j["linux"]["namespaces"].push_back({{"type", "time"}});
    j["linux"]["sysctl"] = {{"net.core.somaxconn", "1024"},
                            {"kernel.msgmax", "8192"},
                            {"kernel.sem", "250 32000 32 128"},
                            {"fs.mqueue.queues_max", "10"},
                            {"kernel.domainname", "corp"}};
    j["hostname"] = "box";
    j["linux"]["timeOffsets"] = json::parse(R"({"monotonic":{"secs":5}})");
    j["process"]["terminal"] = true;
    j["process"]["consoleSize"] = {{"height", 1}, {"width", 2}};
    j["process"]["oomScoreAdj"] = -1000;
    j["ociVersion"] = "1.1.0-rc.1";
    EXPECT_EQ(validate_error(j), "(no error)");
}

TEST(OciValidate, SourceNameIsUsed) {
    json j = minimal();
    j["process"]["cwd"] = "rel";
    try {
        validate(parse_spec_json(j, "/b/config.json"), "/b/config.json");
        FAIL() << "no error";
    } catch (const mxc::Error &e) {
        EXPECT_STREQ(e.what(), "/b/config.json: .process.cwd: must be an absolute path, got \"rel\"");
    }
}

// ---- serialisation --------------------------------------------------------

TEST(OciJson, RoundTripFullConfig) {
    Spec a = parse_spec(kFullConfig);
    json out = to_json(a);
    Spec b = parse_spec_json(out);
    EXPECT_EQ(to_json(b).dump(), out.dump());
    // The output uses the spec's names and keeps the values.
    EXPECT_EQ(out["process"]["user"]["additionalGids"], json({5, 6}));
    EXPECT_EQ(out["process"]["consoleSize"]["width"], 80);
    EXPECT_EQ(out["process"]["ioPriority"]["class"], "IOPRIO_CLASS_BE");
    EXPECT_EQ(out["hooks"]["createRuntime"][0]["timeout"], 5);
    EXPECT_EQ(out["linux"]["resources"]["memory"]["kernelTCP"], 2);
    EXPECT_EQ(out["linux"]["resources"]["memory"]["disableOOMKiller"], true);
    EXPECT_EQ(out["linux"]["resources"]["cpu"]["idle"], 1);
    EXPECT_EQ(out["linux"]["resources"]["blockIO"]["throttleReadIOPSDevice"][0]["rate"], 3);
    EXPECT_EQ(out["linux"]["seccomp"]["syscalls"][1]["args"][1]["valueTwo"], 7);
    EXPECT_EQ(out["linux"]["seccomp"]["defaultErrnoRet"], 1);
    EXPECT_EQ(out["linux"]["timeOffsets"]["monotonic"]["secs"], -10);
    EXPECT_EQ(out["mounts"][1]["uidMappings"][0]["hostID"], 100000);
    EXPECT_EQ(out["linux"]["devices"][0]["fileMode"], 438);
    EXPECT_FALSE(out["linux"]["devices"][1].contains("major")); // a pipe has no numbers
    // Every field of the input survives: the input itself parses to the same output.
    json in = full();
    in["linux"]["seccomp"]["syscalls"][1]["args"][0].erase("valueTwo"); // 0 is the default
    in["linux"]["resources"]["devices"][0]["type"] = "a";                // the default, written out
    in["linux"]["timeOffsets"]["boottime"]["nanosecs"] = 0;
    EXPECT_EQ(in, out);
}

TEST(OciJson, RoundTripMinimalAndResources) {
    Spec a = parse_spec_json(minimal());
    EXPECT_EQ(to_json(parse_spec_json(to_json(a))).dump(), to_json(a).dump());
    EXPECT_EQ(to_json(a)["ociVersion"], "1.0.2");

    Resources r = parse_resources(full()["linux"]["resources"], "r");
    json rj = to_json(r);
    EXPECT_EQ(rj, full()["linux"]["resources"].patch(json::parse(
                      R"([{"op":"add","path":"/devices/0/type","value":"a"}])")));
    EXPECT_EQ(to_json(Resources{}), json::object());
}

// ---- default spec ---------------------------------------------------------

namespace {
const Mount *find_mount(const Spec &s, const std::string &dest) {
    for (const auto &m : s.mounts)
        if (m.destination == dest)
            return &m;
    return nullptr;
}
} // namespace

TEST(OciDefault, RootfulLikeRuncSpec) {
    Spec s = default_spec(false);
    EXPECT_NO_THROW(validate(s));
    EXPECT_EQ(s.oci_version, "1.2.0");
    EXPECT_EQ(s.root->path, "rootfs");
    EXPECT_TRUE(s.root->readonly);
    EXPECT_EQ(s.hostname, "mxc");
    const Process &p = *s.process;
    EXPECT_TRUE(p.terminal);
    EXPECT_THAT(p.args, ::testing::ElementsAre("sh"));
    EXPECT_THAT(p.env, ::testing::Contains("TERM=xterm"));
    EXPECT_EQ(p.cwd, "/");
    EXPECT_TRUE(p.no_new_privileges);
    EXPECT_THAT(p.capabilities->bounding,
                ::testing::ElementsAre("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"));
    EXPECT_EQ(p.capabilities->effective, p.capabilities->bounding);
    EXPECT_EQ(p.capabilities->permitted, p.capabilities->bounding);
    ASSERT_EQ(p.rlimits.size(), 1u);
    EXPECT_EQ(p.rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_EQ(p.rlimits[0].soft, 1024u);
    EXPECT_EQ(p.rlimits[0].hard, 1024u);

    std::vector<std::string> dests;
    for (const auto &m : s.mounts)
        dests.push_back(m.destination);
    EXPECT_THAT(dests, ::testing::ElementsAre("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                                              "/sys/fs/cgroup"));
    EXPECT_THAT(find_mount(s, "/dev/pts")->options, ::testing::Contains("gid=5"));
    EXPECT_THAT(find_mount(s, "/dev")->options, ::testing::Contains("size=65536k"));
    EXPECT_EQ(find_mount(s, "/sys")->type, "sysfs");

    std::vector<std::string> ns;
    for (const auto &n : s.linux_->namespaces)
        ns.push_back(n.type);
    EXPECT_THAT(ns, ::testing::ElementsAre("pid", "network", "ipc", "uts", "mount", "cgroup"));
    EXPECT_TRUE(s.linux_->uid_mappings.empty());
    EXPECT_THAT(s.linux_->masked_paths, ::testing::Contains("/proc/kcore"));
    EXPECT_THAT(s.linux_->readonly_paths, ::testing::Contains("/proc/sysrq-trigger"));

    // What `mxc spec` writes reads back as the same spec.
    json j = to_json(s);
    EXPECT_EQ(to_json(parse_spec_json(j)).dump(), j.dump());
    EXPECT_NO_THROW(validate(parse_spec_json(j)));
}

TEST(OciDefault, Rootless) {
    Spec s = default_spec(true);
    EXPECT_NO_THROW(validate(s));
    const Linux &l = *s.linux_;
    EXPECT_EQ(l.find_namespace("network"), nullptr);
    ASSERT_NE(l.find_namespace("user"), nullptr);
    EXPECT_TRUE(l.find_namespace("user")->path.empty());
    ASSERT_EQ(l.uid_mappings.size(), 1u);
    EXPECT_EQ(l.uid_mappings[0].container_id, 0u);
    EXPECT_EQ(l.uid_mappings[0].host_id, geteuid());
    EXPECT_EQ(l.uid_mappings[0].size, 1u);
    ASSERT_EQ(l.gid_mappings.size(), 1u);
    EXPECT_EQ(l.gid_mappings[0].host_id, getegid());
    EXPECT_FALSE(l.resources);
    EXPECT_EQ(find_mount(s, "/sys/fs/cgroup"), nullptr);
    const Mount *sys = find_mount(s, "/sys");
    ASSERT_NE(sys, nullptr);
    EXPECT_EQ(sys->source, "/sys");
    EXPECT_THAT(sys->options, ::testing::ElementsAre("rbind", "nosuid", "noexec", "nodev", "ro"));
    EXPECT_THAT(find_mount(s, "/dev/pts")->options, ::testing::Not(::testing::Contains("gid=5")));
    json j = to_json(s);
    EXPECT_EQ(to_json(parse_spec_json(j)).dump(), j.dump());
}
