// util: times, the passwd lookup, file helpers, errors, signals and wait
// statuses -- what every other part of mxc builds on.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <ctime>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "helpers.hpp"

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"
#include "mxc/util/proc.hpp"
#include "mxc/util/user.hpp"

using namespace mxc;
using mxc::testing::error_of;
using mxc::testing::TempDir;

namespace {



} // namespace

// RFC 3339 in UTC with nanoseconds, whatever the local zone is, and now.
TEST(UtilTime, NowIsRfc3339UtcWithNanoseconds) {
    const char *old = std::getenv("TZ");
    std::string saved = old ? old : "";
    ::setenv("TZ", "Pacific/Chatham", 1); // +12:45 / +13:45: a zone offset would show
    ::tzset();
    time_t before = std::time(nullptr);
    std::string t = log::now_rfc3339();
    time_t after = std::time(nullptr);
    if (old)
        ::setenv("TZ", saved.c_str(), 1);
    else
        ::unsetenv("TZ");
    ::tzset();
    ASSERT_TRUE(std::regex_match(t, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z)"))) << t;
    struct tm tm {};
    ASSERT_NE(::strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << t;
    time_t parsed = ::timegm(&tm);
    EXPECT_GE(parsed, before) << t;
    EXPECT_LE(parsed, after) << t;
}

// The passwd entry: the same as getpwuid's, asked once; an unknown uid is
// nullopt (and stays so).
TEST(UtilUser, EntryMatchesPasswdAndUnknownIsEmpty) {
    struct passwd *pw = ::getpwuid(::getuid());
    ASSERT_NE(pw, nullptr);
    std::string name = pw->pw_name, home = pw->pw_dir;
    auto e = user_entry(::getuid());
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->name, name);
    EXPECT_EQ(e->home, home);
    auto again = user_entry(::getuid());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->name, name);
    uid_t nobody_has = 3999999999u;
    ASSERT_EQ(::getpwuid(nobody_has), nullptr) << "uid " << nobody_has << " exists here";
    EXPECT_FALSE(user_entry(nobody_has).has_value());
    EXPECT_FALSE(user_entry(nobody_has).has_value());
}

// The atomic write leaves the new contents with the mode asked for and no
// temporary file; a failure names the path and leaves nothing behind.
TEST(UtilFile, AtomicWriteReplacesAndLeavesNoTemporary) {
    TempDir d;
    std::string f = d.path() + "/state.json";
    write_file_atomic(f, "one", 0600, true);
    write_file_atomic(f, "two", 0600, false);
    EXPECT_EQ(read_file(f), "two");
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    std::vector<std::string> names;
    for (const auto &e : std::filesystem::directory_iterator(d.path()))
        names.push_back(e.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{"state.json"});

    std::string missing = d.path() + "/no/such/dir/x";
    std::string err = error_of([&] { write_file_atomic(missing, "x", 0600, true); });
    EXPECT_NE(err.find(d.path() + "/no/such/dir/x"), std::string::npos) << err;
    EXPECT_NE(err.find("(ENOENT)"), std::string::npos) << err;
}

TEST(UtilFile, MkdirPAndRemoveTree) {
    TempDir d;
    std::string deep = d.path() + "/a/b/c";
    mkdir_p(deep, 0700);
    mkdir_p(deep, 0700); // exists: fine
    write_file(deep + "/f", "x");
    // A link to a directory outside: its target and contents must survive.
    TempDir outside;
    write_file(outside.path() + "/sentinel", "keep");
    ASSERT_EQ(::symlink(outside.path().c_str(), (d.path() + "/a/link").c_str()), 0);
    remove_tree(d.path() + "/a");
    EXPECT_FALSE(path_exists(d.path() + "/a"));
    EXPECT_EQ(read_file(outside.path() + "/sentinel"), "keep"); // the link was not followed
    remove_tree(d.path() + "/a"); // missing: fine
    EXPECT_EQ(error_of([&] { read_file(d.path() + "/gone"); }),
              "open " + d.path() + "/gone: No such file or directory (ENOENT)")
        << error_of([&] { read_file(d.path() + "/gone"); });
}

// An error renders its context outermost first, then errno's text and name.
TEST(UtilError, ContextAndErrnoRender) {
    Error e(EACCES, "open /x");
    e.add_context("create \"c1\"");
    EXPECT_STREQ(e.what(), "create \"c1\": open /x: Permission denied (EACCES)");
    EXPECT_EQ(e.code(), EACCES);
    EXPECT_EQ(e.message(), "open /x");
    EXPECT_EQ(errno_name(ENOENT), "ENOENT");
    EXPECT_EQ(errno_name(4095), "E4095");
    Error plain("bad value");
    EXPECT_STREQ(plain.what(), "bad value");
    EXPECT_EQ(plain.code(), 0);
}

// Signals by name, number and SIG-prefixed name; the shell's 128+N.
TEST(UtilProc, SignalsAndExitCodes) {
    EXPECT_EQ(parse_signal("TERM"), SIGTERM);
    EXPECT_EQ(parse_signal("SIGKILL"), SIGKILL);
    EXPECT_EQ(parse_signal("9"), 9);
    EXPECT_EQ(parse_signal("RTMIN+2"), SIGRTMIN + 2);
    EXPECT_THROW(parse_signal("NOPE"), Error);
    EXPECT_THROW(parse_signal("0"), Error);
    EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
    EXPECT_EQ(exit_code_from_status(W_EXITCODE(3, 0)), 3);
    EXPECT_EQ(exit_code_from_status(W_EXITCODE(0, SIGKILL)), 128 + SIGKILL);
    // This process: its start time is stable, its state is running.
    auto t1 = process_start_time(::getpid());
    auto t2 = process_start_time(::getpid());
    ASSERT_TRUE(t1.has_value());
    EXPECT_EQ(t1, t2);
    EXPECT_EQ(process_state(::getpid()), 'R');
    EXPECT_FALSE(process_start_time(0x3fffffff).has_value());
}
