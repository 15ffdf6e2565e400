// runtime: container ids, the state store, status and the state JSON that
// `mxc state` prints -- without making any container.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "helpers.hpp"

#include "mxc/runtime/runtime.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/proc.hpp"

using namespace mxc;
using mxc::testing::error_of;
using namespace mxc::runtime;

namespace {

class TempRoot : public ::testing::Test {
protected:
    mxc::testing::TempDir dir{"mxc-runtime"};
    const std::string root = dir.path();
};


} // namespace

TEST(RuntimeIds, ValidAndInvalid) {
    for (const char *ok : {"c1", "a", "agent-0f3e9c", "x_y.z-1", "0start"})
        EXPECT_NO_THROW(check_id(ok)) << ok;
    EXPECT_EQ(error_of([] { check_id(""); }), "container id is empty");
    EXPECT_EQ(error_of([] { check_id("../etc"); }), "invalid container id \"../etc\": must start with a letter or digit");
    EXPECT_EQ(error_of([] { check_id("a/b"); }),
              "invalid container id \"a/b\": only letters, digits, '_', '.' and '-' are allowed");
    EXPECT_EQ(error_of([] { check_id("-rf"); }), "invalid container id \"-rf\": must start with a letter or digit");
    EXPECT_EQ(error_of([] { check_id(std::string(1025, 'a')); }), "container id is longer than 1024 characters");
    EXPECT_NO_THROW(check_id(std::string(1024, 'a')));
}

// What is saved is what is loaded; ids() lists saved containers only; remove
// takes the directory.
TEST_F(TempRoot, StoreRoundTripAndList) {
    Store store(root);
    State s;
    s.id = "c1";
    s.pid = 4242;
    s.pid_start = 99;
    s.bundle = "/b";
    s.rootfs = "/b/rootfs";
    s.created = "2026-12-03T19:00:00.000000001Z";
    s.owner = "alice";
    s.owner_uid = 1000;
    s.annotations = {{"org.mxc.identity", "alice"}};
    s.cgroup_path = "/mxc/c1";
    s.rootless = true;
    s.started = true;
    s.config = {{"ociVersion", "1.0.2"}};
    s.landlock = {{"/work", true}, {"/usr", false}};
    mkdir_p(store.dir("c1"), 0711);
    store.save(s);
    mkdir_p(store.dir("half"), 0711); // a directory without state.json: not a container
    EXPECT_TRUE(store.exists("c1"));
    EXPECT_FALSE(store.exists("half"));
    State l = store.load("c1");
    EXPECT_EQ(l.id, "c1");
    EXPECT_EQ(l.pid, 4242);
    EXPECT_EQ(l.pid_start, 99u);
    EXPECT_EQ(l.bundle, "/b");
    EXPECT_EQ(l.rootfs, "/b/rootfs");
    EXPECT_EQ(l.created, s.created);
    EXPECT_EQ(l.owner, "alice");
    EXPECT_EQ(l.owner_uid, 1000u);
    EXPECT_EQ(l.annotations, s.annotations);
    EXPECT_EQ(l.cgroup_path, "/mxc/c1");
    EXPECT_TRUE(l.rootless);
    EXPECT_TRUE(l.started);
    EXPECT_EQ(l.config, s.config);
    EXPECT_EQ(l.landlock, s.landlock);
    auto ids = store.ids();
    EXPECT_NE(std::find(ids.begin(), ids.end(), "c1"), ids.end());
    EXPECT_EQ(std::find(ids.begin(), ids.end(), "half"), ids.end());
    EXPECT_EQ(error_of([&] { store.load("nope"); }),
              "container \"nope\" does not exist: No such file or directory (ENOENT)");
    write_file(store.dir("half") + "/state.json", "{not json");
    EXPECT_EQ(error_of([&] { store.load("half"); }), store.dir("half") + "/state.json: corrupt state file");
    store.remove("c1");
    EXPECT_FALSE(path_exists(store.dir("c1")));
}

// A recorded pid that is gone, or reused by another process (its start time
// differs), is stopped; a live one with the fifo still there is created, and
// running once started.
TEST_F(TempRoot, StatusFollowsTheProcess) {
    Store store(root);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::pause();
        ::_exit(0);
    }
    State s;
    s.id = "c2";
    s.pid = child;
    s.pid_start = process_start_time(child).value_or(0);
    mkdir_p(store.dir("c2"), 0711);
    write_file(store.fifo("c2"), "");
    EXPECT_EQ(status_of(store, s), Status::created);
    s.started = true;
    EXPECT_EQ(status_of(store, s), Status::running);
    State reused = s;
    reused.pid_start += 1; // the same pid, another process
    EXPECT_EQ(status_of(store, reused), Status::stopped);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    EXPECT_EQ(status_of(store, s), Status::stopped);

    nlohmann::json j = state_json(s, Status::stopped);
    EXPECT_EQ(j["id"], "c2");
    EXPECT_EQ(j["status"], "stopped");
    EXPECT_EQ(j["ociVersion"], "1.2.0"); // no config: the version mxc writes
    EXPECT_EQ(j["pid"], 0) << j.dump(); // its process is gone: 0, as runc shows it
    j = state_json(s, Status::running);
    EXPECT_EQ(j["pid"], child);
}
