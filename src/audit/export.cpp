// Export: OCSF 1.x events and plain JSON lines; the human one-line format.
#include <ostream>

#include <fmt/format.h>

#include "mxc/audit/stream.hpp"
#include "mxc/util/error.hpp"

namespace mxc::audit {

using nlohmann::json;

ExportFormat parse_export_format(std::string_view name) {
    if (name == "jsonl")
        return ExportFormat::jsonl;
    if (name == "ocsf")
        return ExportFormat::ocsf;
    throw Error(fmt::format("unknown export format \"{}\" (expected ocsf or jsonl)", name));
}

namespace {

bool one_of(std::string_view s, std::initializer_list<std::string_view> set) {
    for (auto v : set)
        if (s == v)
            return true;
    return false;
}

bool is_dns(const Record &r) {
    return r.kind == "proxy" || (r.kind == "net" && r.proto == "udp" && r.port && *r.port == 53);
}

struct Activity {
    int id;
    const char *name;
};

Activity process_activity(const Record &r) {
    if (one_of(r.op, {"exec", "execve", "execveat", "fork", "clone", "clone3", "vfork"}) || r.kind == "exec")
        return {1, "Launch"};
    if (one_of(r.op, {"exit", "exit_group"}))
        return {2, "Terminate"};
    return {99, "Other"};
}

Activity file_activity(const Record &r) {
    const std::string &op = r.op;
    if (one_of(op, {"open", "openat", "openat2"}))
        return {14, "Open"};
    if (one_of(op, {"creat", "mkdir", "mkdirat", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat"}))
        return {1, "Create"};
    if (one_of(op, {"read", "readlink", "readlinkat"}))
        return {2, "Read"};
    if (one_of(op, {"write", "truncate", "ftruncate"}))
        return {3, "Update"};
    if (one_of(op, {"unlink", "unlinkat", "rmdir"}))
        return {4, "Delete"};
    if (one_of(op, {"rename", "renameat", "renameat2"}))
        return {5, "Rename"};
    if (one_of(op, {"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchown", "fchownat", "utimensat"}))
        return {6, "Set Attributes"};
    if (op == "mount")
        return {12, "Mount"};
    if (one_of(op, {"umount", "umount2"}))
        return {13, "Unmount"};
    return {99, "Other"};
}

Activity network_activity(const Record &r) {
    const std::string &op = r.op;
    if (op == "connect") {
        if (r.outcome == "denied")
            return {5, "Refuse"};
        if (r.outcome == "failed")
            return {4, "Fail"};
        return {1, "Open"};
    }
    if (one_of(op, {"accept", "accept4"}))
        return {1, "Open"};
    if (op == "listen")
        return {7, "Listen"};
    if (one_of(op, {"sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg"}))
        return {6, "Traffic"};
    if (op == "close")
        return {2, "Close"};
    return {99, "Other"};
}

std::string join_args(const std::vector<std::string> &args) {
    std::string s;
    for (auto &a : args) {
        if (!s.empty())
            s += ' ';
        s += a;
    }
    return s;
}

json process_of(const Record &r) {
    json p = json::object();
    if (r.pid)
        p["pid"] = *r.pid;
    if (!r.comm.empty())
        p["name"] = r.comm;
    if (!r.exe.empty())
        p["file"] = {{"path", r.exe}, {"name", r.exe.substr(r.exe.rfind('/') + 1)}};
    if (!r.args.empty())
        p["cmd_line"] = join_args(r.args);
    if (r.uid)
        p["user"] = {{"uid", std::to_string(*r.uid)}};
    if (r.ppid)
        p["parent_process"] = {{"pid", *r.ppid}};
    return p;
}

bool failed(const Record &r) { return r.outcome == "denied" || r.outcome == "failed" || !r.result.empty(); }

} // namespace

json to_ocsf(const Record &r) {
    if (r.kind == "header" || r.kind == "checkpoint")
        return nullptr;
    int cls = 0;
    const char *cls_name = "Base Event", *cat_name = "Uncategorized";
    Activity act{99, "Other"};
    json e = json::object();
    if (is_dns(r)) {
        cls = 4003, cls_name = "DNS Activity", cat_name = "Network Activity";
        act = {1, "Query"};
        if (!r.domain.empty())
            e["query"] = {{"hostname", r.domain}};
    } else if (r.kind == "exec" || r.kind == "process") {
        cls = 1007, cls_name = "Process Activity", cat_name = "System Activity";
        act = process_activity(r);
        e["process"] = process_of(r);
        if (r.exit_code)
            e["exit_code"] = *r.exit_code;
    } else if (r.kind == "file") {
        cls = 1001, cls_name = "File System Activity", cat_name = "System Activity";
        act = file_activity(r);
        auto slash = r.path.rfind('/');
        e["file"] = {{"path", r.path}, {"name", slash == std::string::npos ? r.path : r.path.substr(slash + 1)}};
        if (slash != std::string::npos && slash > 0)
            e["file"]["parent_folder"] = r.path.substr(0, slash);
    } else if (r.kind == "net") {
        cls = 4001, cls_name = "Network Activity", cat_name = "Network Activity";
        act = network_activity(r);
    } else if (r.kind == "loss") {
        e["message"] = fmt::format("{} events lost{}", r.lost.value_or(0), r.probe.empty() ? "" : " by " + r.probe);
        e["count"] = r.lost.value_or(0);
    } else {
        e["message"] = fmt::format("{} {}", r.kind, r.op);
    }
    if (cls == 4001 || cls == 4003) {
        json dst = json::object();
        if (!r.addr.empty() && r.family != "unix")
            dst["ip"] = r.addr;
        if (r.port)
            dst["port"] = *r.port;
        if (!dst.empty())
            e["dst_endpoint"] = dst;
        json ci = json::object();
        if (!r.proto.empty())
            ci["protocol_name"] = r.proto;
        if (r.family == "inet")
            ci["protocol_ver_id"] = 4;
        else if (r.family == "inet6")
            ci["protocol_ver_id"] = 6;
        bool inbound = one_of(r.op, {"accept", "accept4", "listen", "bind", "recvfrom", "recvmsg"});
        ci["direction_id"] = inbound ? 1 : 2;
        ci["direction"] = inbound ? "Inbound" : "Outbound";
        e["connection_info"] = ci;
    }
    e["class_uid"] = cls;
    e["class_name"] = cls_name;
    e["category_uid"] = cls / 1000;
    e["category_name"] = cat_name;
    e["activity_id"] = act.id;
    e["activity_name"] = act.name;
    e["type_uid"] = cls * 100 + act.id;
    int64_t ns = 0;
    try {
        ns = parse_time(r.time);
    } catch (const Error &) {
    }
    e["time"] = ns / 1'000'000;
    e["severity_id"] = 1;
    e["severity"] = "Informational";
    bool bad = failed(r);
    e["status_id"] = bad ? 2 : 1;
    e["status"] = bad ? "Failure" : "Success";
    if (!r.result.empty())
        e["status_detail"] = r.result;
    if (r.outcome == "allowed")
        e["disposition_id"] = 1, e["disposition"] = "Allowed";
    else if (r.outcome == "denied")
        e["disposition_id"] = 2, e["disposition"] = "Blocked";
    json actor_proc = process_of(r);
    actor_proc.erase("cmd_line");
    json actor = json::object();
    if (!actor_proc.empty())
        actor["process"] = actor_proc;
    if (r.uid)
        actor["user"] = {{"uid", std::to_string(*r.uid)}};
    if (!actor.empty())
        e["actor"] = actor;
    e["metadata"] = {{"product", {{"name", "mxc"}, {"vendor_name", "mxc"}}},
                     {"version", "1.1.0"},
                     {"log_name", r.identity},
                     {"sequence", r.seq},
                     {"uid", r.hash}};
    json un = {{"identity", r.identity}, {"kind", r.kind}, {"seq", r.seq}};
    if (!r.sandbox.empty())
        un["sandbox"] = r.sandbox;
    if (!r.op.empty())
        un["op"] = r.op;
    if (!r.outcome.empty())
        un["outcome"] = r.outcome;
    if (r.flags)
        un["flags"] = *r.flags;
    if (r.mode)
        un["mode"] = *r.mode;
    if (r.family == "unix" && !r.addr.empty())
        un["unix_path"] = r.addr;
    e["unmapped"] = un;
    return e;
}

size_t export_records(const std::vector<Record> &records, ExportFormat format, std::ostream &out) {
    size_t n = 0;
    for (auto &r : records) {
        if (format == ExportFormat::jsonl) {
            out << to_line(r);
            ++n;
            continue;
        }
        json e = to_ocsf(r);
        if (e.is_null())
            continue;
        out << e.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
        ++n;
    }
    return n;
}

std::string format_human(const Record &r) {
    std::string s = r.time;
    // Milliseconds are enough for a person: 2026-01-02T03:04:05.123Z
    if (s.size() == 30 && s[19] == '.')
        s = s.substr(0, 23) + "Z";
    s += ' ';
    s += r.identity;
    if (!r.sandbox.empty())
        s += ' ' + r.sandbox;
    s += ' ' + r.kind;
    if (!r.op.empty())
        s += ' ' + r.op;
    if (!r.exe.empty() && r.kind == "exec")
        s += ' ' + r.exe;
    if (!r.args.empty() && r.kind == "exec")
        s += " [" + join_args(r.args) + "]";
    if (!r.path.empty())
        s += ' ' + r.path;
    if (!r.addr.empty())
        s += r.family == "inet6" ? fmt::format(" [{}]", r.addr) : ' ' + r.addr;
    if (r.port)
        s += fmt::format(":{}", *r.port);
    if (!r.proto.empty())
        s += '/' + r.proto;
    if (!r.domain.empty())
        s += ' ' + r.domain;
    if (r.kind == "loss")
        s += fmt::format(" lost={}{}", r.lost.value_or(0), r.probe.empty() ? "" : " probe=" + r.probe);
    if (r.kind == "header" && r.extra.is_object() && r.extra.contains("backend") && r.extra["backend"].is_string())
        s += " backend=" + r.extra["backend"].get<std::string>();
    if (!r.outcome.empty())
        s += ' ' + r.outcome;
    if (!r.result.empty())
        s += ' ' + r.result;
    if (r.exit_code)
        s += fmt::format(" exit={}", *r.exit_code);
    if (r.pid)
        s += fmt::format(" pid={}", *r.pid);
    if (!r.comm.empty())
        s += " comm=" + r.comm;
    return s;
}

} // namespace mxc::audit
