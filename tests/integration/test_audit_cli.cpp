// `mxc audit` on streams written by the stream library: what a person sees.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "mxc/audit/stream.hpp"
#include "mxc/identity/identity.hpp"

using namespace mxc::testing;
namespace audit = mxc::audit;

namespace {

class AuditCli : public IntegrationTest {
protected:
    // A stream of `n` file records for identity `name`, checkpointed and
    // signed with the identity's own key; returns the stream directory.
    fs::path write_stream(const std::string &name, int n) {
        mxc::identity::IdentityStore store{(tmp() / "identities").string(), ::geteuid()};
        mxc::identity::create(store, name);
        audit::WriterOptions o;
        o.base_dir = (tmp() / "audit").string();
        o.identity = name;
        o.checkpoint_records = 10;
        o.signer = audit::identity_signer(store, name);
        o.backend = "test";
        audit::StreamWriter w(o);
        for (int i = 0; i < n; ++i) {
            audit::Record r;
            r.kind = "file";
            r.op = "openat";
            r.sandbox = "sb1";
            r.pid = 100 + i;
            r.path = i % 5 == 0 ? "/etc/shadow" : "/work/f" + std::to_string(i);
            r.outcome = i % 5 == 0 ? "denied" : "allowed";
            r.result = i % 5 == 0 ? "EACCES" : "";
            w.append(r);
        }
        w.close();
        return tmp() / "audit" / name;
    }
    std::string dir() { return (tmp() / "audit").string(); }
};

std::vector<std::string> lines_of(const fs::path &seg) {
    std::ifstream in(seg);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

} // namespace

TEST_F(AuditCli, VerifyAcceptsAnIntactStreamAndNamesTheFirstEditedRecord) {
    fs::path s = write_stream("alice", 40);
    RunResult ok = run_mxc({"audit", "verify", "--dir", dir()});
    ASSERT_EQ(ok.status, 0) << ok.describe();
    EXPECT_NE(ok.out.find("ok, "), std::string::npos) << ok.out;

    // Edit one record's path in place: the chain breaks at that record.
    fs::path seg = s / "seg-000001.jsonl";
    auto lines = lines_of(seg);
    ASSERT_GT(lines.size(), 20u);
    size_t idx = 12;
    while (idx < lines.size() && lines[idx].find("/work/f") == std::string::npos)
        ++idx;
    ASSERT_LT(idx, lines.size());
    uint64_t edited_seq = Json::parse(lines[idx])["seq"].get<uint64_t>();
    auto pos = lines[idx].find("/work/f");
    lines[idx].replace(pos, 7, "/work/g");
    std::ofstream(seg, std::ios::trunc) << [&] {
        std::string t;
        for (auto &l : lines)
            t += l + "\n";
        return t;
    }();
    RunResult bad = run_mxc({"audit", "verify", "--dir", dir(), "--json"});
    EXPECT_EQ(bad.status, 1) << bad.describe();
    auto j = Json::parse(bad.out, nullptr, false);
    ASSERT_TRUE(j.is_array()) << bad.out;
    EXPECT_FALSE(j[0]["ok"].get<bool>());
    EXPECT_EQ(j[0]["first_bad_seq"].get<uint64_t>(), edited_seq) << bad.out;
}

TEST_F(AuditCli, QueryFiltersDeniedAndByPathPrefix) {
    write_stream("bob", 20);
    RunResult q = run_mxc({"audit", "query", "--dir", dir(), "--denied", "--json"});
    ASSERT_EQ(q.status, 0) << q.describe();
    std::istringstream in(q.out);
    int n = 0;
    for (std::string l; std::getline(in, l); ++n) {
        auto r = Json::parse(l);
        EXPECT_EQ(r["outcome"], "denied");
        EXPECT_EQ(r["path"], "/etc/shadow");
    }
    EXPECT_EQ(n, 4);
    RunResult p = run_mxc({"audit", "query", "--dir", dir(), "--path-prefix", "/work", "--json"});
    ASSERT_EQ(p.status, 0) << p.describe();
    EXPECT_EQ(std::count(p.out.begin(), p.out.end(), '\n'), 16);
}

TEST_F(AuditCli, ExportOcsfUsesFileSystemActivityClass) {
    write_stream("carol", 5);
    RunResult e = run_mxc({"audit", "export", "--dir", dir(), "--format", "ocsf"});
    ASSERT_EQ(e.status, 0) << e.describe();
    std::istringstream in(e.out);
    int n = 0;
    for (std::string l; std::getline(in, l); ++n)
        EXPECT_EQ(Json::parse(l)["class_uid"], 1001) << l;
    EXPECT_EQ(n, 5);
}

TEST_F(AuditCli, StatsCountsKindsAndBadKindIsRefused) {
    write_stream("dave", 7);
    RunResult s = run_mxc({"audit", "stats", "--dir", dir(), "--json"});
    ASSERT_EQ(s.status, 0) << s.describe();
    auto j = Json::parse(s.out);
    EXPECT_EQ(j["by_kind"]["file"], 7) << s.out;
    RunResult bad = run_mxc({"audit", "query", "--dir", dir(), "--kind", "nope"});
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("unknown kind \"nope\""), std::string::npos) << bad.err;
}
