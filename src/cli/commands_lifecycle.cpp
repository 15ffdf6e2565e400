// create, start, run, kill, delete, exec, pause, resume, update.
#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli.hpp"
#include "mxc/runtime/agent.hpp"
#include "mxc/sandbox/process_setup.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/proc.hpp"

namespace mxc::cli {

namespace {

void add_create_flags(CLI::App *c, runtime::CreateOptions &o) {
    c->add_option("-b,--bundle", o.bundle, "Path to the bundle directory (default: current directory)");
    c->add_option("--pid-file", o.pid_file, "Write the container process's pid to this file");
    c->add_option("--console-socket", o.console_socket, "Unix socket that receives the pty master (process.terminal)");
    c->add_flag("--no-pivot", o.no_pivot, "Use chroot instead of pivot_root (for ramdisk roots)");
    c->add_flag("--no-new-keyring", o.no_new_keyring, "Keep the caller's session keyring");
    c->add_option("--preserve-fds", o.preserve_fds, "Pass N extra fds (3..3+N-1) to the container")->check(CLI::NonNegativeNumber);
    c->add_option("id", o.id, "Container id")->required();
}

std::string read_input(const std::string &file) {
    if (file == "-")
        return std::string(std::istreambuf_iterator<char>(std::cin), {});
    return read_file(file);
}

// "512m", "1G", "1048576" -> bytes; "-1" stays -1.
int64_t parse_size(const std::string &s, const char *flag) {
    if (s == "-1")
        return -1;
    size_t pos = 0;
    double v;
    try {
        v = std::stod(s, &pos);
    } catch (...) {
        throw_error("{}: invalid size \"{}\"", flag, s);
    }
    std::string unit = s.substr(pos);
    for (auto &c : unit)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!unit.empty() && unit.back() == 'b')
        unit.pop_back();
    if (!unit.empty() && unit.back() == 'i')
        unit.pop_back();
    double mult = unit.empty() ? 1 : unit == "k" ? 1024.0 : unit == "m" ? 1048576.0 : unit == "g" ? 1073741824.0
                  : unit == "t" ? 1099511627776.0 : -1;
    if (mult < 0 || v < 0)
        throw_error("{}: invalid size \"{}\"", flag, s);
    return static_cast<int64_t>(v * mult);
}

} // namespace

void add_lifecycle_commands(CLI::App &app, Context &ctx) {
    if (ctx.wants("create")) {
        auto o = std::make_shared<runtime::CreateOptions>();
        auto *c = app.add_subcommand("create", "Create a container; its process waits for `start`");
        add_create_flags(c, *o);
        c->callback([&ctx, o] { run_command(ctx, [&] { runtime::create(ctx.global(), *o); return 0; }); });
    }
    if (ctx.wants("start")) {
        auto id = std::make_shared<std::string>();
        auto *c = app.add_subcommand("start", "Start the process of a created container");
        c->add_option("id", *id, "Container id")->required();
        c->callback([&ctx, id] { run_command(ctx, [&] { runtime::start(ctx.global(), *id); return 0; }); });
    }
    if (ctx.wants("run")) {
        // `run ID` is the OCI command; `run [flags] -- CMD...` is the agent
        // sandbox (main() tells them apart by the "--").
        auto o = std::make_shared<runtime::CreateOptions>();
        auto a = std::make_shared<runtime::AgentOptions>();
        auto rest = std::make_shared<std::vector<std::string>>();
        auto *c = app.add_subcommand("run", "Run a container from a bundle (run ID), or a command in an agent sandbox (run -- CMD)");
        c->add_option("-b,--bundle", o->bundle, "OCI: path to the bundle directory (default: current directory)");
        c->add_option("--pid-file", o->pid_file, "OCI: write the container process's pid to this file");
        c->add_option("--console-socket", o->console_socket, "OCI: unix socket that receives the pty master");
        c->add_flag("--no-pivot", o->no_pivot, "OCI: use chroot instead of pivot_root");
        c->add_flag("--no-new-keyring", o->no_new_keyring, "OCI: keep the caller's session keyring");
        c->add_option("--preserve-fds", o->preserve_fds, "OCI: pass N extra fds")->check(CLI::NonNegativeNumber);
        c->add_flag("--keep", o->keep, "OCI: accepted for runc compatibility");
        c->add_flag("-d,--detach", o->detach, "Return once the container has started");
        c->add_option("--profile", a->profile, "Agent: profile name or YAML file (default: agent)");
        c->add_option("--identity", a->identity, "Agent: identity to bind the sandbox to (default: yours)");
        c->add_option("--name", a->name, "Agent: sandbox id (default: agent-<random>)");
        c->add_option("--workspace", a->req.workspace, "Agent: read-write workspace (default: current directory)");
        c->add_option("--rw", a->req.rw, "Agent: grant read-write access to PATH (repeatable)")->allow_extra_args(false);
        c->add_option("--ro", a->req.ro, "Agent: grant read-only access to PATH (repeatable)")->allow_extra_args(false);
        c->add_option("--deny", a->req.deny, "Agent: hide PATH (repeatable)")->allow_extra_args(false);
        c->add_option("--net", a->req.net, "Agent: network mode")->check(CLI::IsMember({"none", "loopback", "allow", "host"}));
        c->add_option("--allow", a->req.allow, "Agent: allow HOST[:PORT] or CIDR through the proxy (repeatable)")->allow_extra_args(false);
        c->add_option("--memory", a->req.memory, "Agent: memory limit, e.g. 512M");
        c->add_option("--pids", a->req.pids, "Agent: maximum number of processes");
        c->add_option("--cpus", a->req.cpus, "Agent: CPU limit, e.g. 1.5");
        c->add_option("--timeout", a->req.timeout, "Agent: kill the sandbox after DURATION (exit status 124)");
        c->add_option("--env", a->req.env_set, "Agent: set K=V inside (repeatable)")->allow_extra_args(false);
        c->add_option("--keep-env", a->req.keep_env, "Agent: keep this variable (or PREFIX*) from the caller (repeatable)")->allow_extra_args(false);
        c->add_flag("-t,--tty", a->req.tty, "Agent: give the command a pseudo-terminal");
        c->add_flag("--json", a->json, "Agent: print a JSON summary on stderr at exit");
        c->add_flag("--quiet", a->quiet, "Agent: no summary line at exit");
        c->add_option("--audit-backend", a->audit_backend,
                      "Agent: auto (mxcd when it runs, else seccomp-notify), mxcd (eBPF only) or seccomp")
            ->check(CLI::IsMember({"auto", "mxcd", "seccomp"}));
        c->add_flag("--gpu", a->req.gpu, "Agent: expose /usr/lib/wsl (WSL GPU)");
        c->add_option("args", *rest, "ID (OCI), or -- CMD [ARGS...] (agent)");
        c->callback([&ctx, o, a, rest] {
            run_command(ctx, [&] {
                if (ctx.agent_mode) {
                    a->req.command = *rest;
                    a->detach = o->detach;
                    return runtime::run_agent(ctx.global(), *a);
                }
                if (rest->size() != 1)
                    throw_error("run: expected one container id (OCI bundle), or -- CMD [ARGS...] (agent sandbox)");
                o->id = rest->front();
                return runtime::run(ctx.global(), *o);
            });
        });
    }
    if (ctx.wants("kill")) {
        auto id = std::make_shared<std::string>();
        auto sig = std::make_shared<std::string>("SIGTERM");
        auto all = std::make_shared<bool>(false);
        auto *c = app.add_subcommand("kill", "Send a signal (name or number, default SIGTERM) to the container");
        c->add_flag("-a,--all", *all, "Signal every process in the container's cgroup");
        c->add_option("id", *id, "Container id")->required();
        c->add_option("signal", *sig, "Signal, e.g. KILL, SIGTERM or 9");
        c->callback([&ctx, id, sig, all] {
            run_command(ctx, [&] {
                int n = with_context(fmt::format("kill \"{}\"", *id), [&] { return parse_signal(*sig); });
                runtime::kill(ctx.global(), *id, n, *all);
                return 0;
            });
        });
    }
    if (ctx.wants("delete")) {
        auto id = std::make_shared<std::string>();
        auto force = std::make_shared<bool>(false);
        auto *c = app.add_subcommand("delete", "Delete a stopped (or, with --force, running) container");
        c->add_flag("-f,--force", *force, "Kill the container first if it is running");
        c->add_option("id", *id, "Container id")->required();
        c->callback([&ctx, id, force] {
            run_command(ctx, [&] { runtime::remove(ctx.global(), *id, *force); return 0; });
        });
    }
    for (auto [name, help, freeze] : {std::tuple{"pause", "Freeze every process of the container", true},
                                      std::tuple{"resume", "Thaw a paused container", false}}) {
        if (!ctx.wants(name))
            continue;
        auto id = std::make_shared<std::string>();
        auto *c = app.add_subcommand(name, help);
        c->add_option("id", *id, "Container id")->required();
        c->callback([&ctx, id, fr = freeze] {
            run_command(ctx, [&] {
                fr ? runtime::pause(ctx.global(), *id) : runtime::resume(ctx.global(), *id);
                return 0;
            });
        });
    }
    if (ctx.wants("exec")) {
        struct ExecArgs {
            std::string id, process_file, cwd, user, pid_file, console_socket;
            std::vector<std::string> args, env, caps, apparmor, label;
            std::vector<uint32_t> gids;
            bool tty = false, detach = false, nnp = false;
            int preserve_fds = 0;
        };
        auto a = std::make_shared<ExecArgs>();
        auto *c = app.add_subcommand("exec", "Run another process in a running container");
        c->add_option("-p,--process", a->process_file, "process.json (runtime-spec Process) instead of ARGS");
        c->add_flag("-t,--tty", a->tty, "Allocate a pseudo-terminal");
        c->add_flag("-d,--detach", a->detach, "Do not wait for the process");
        c->add_option("--pid-file", a->pid_file, "Write the process's pid here");
        c->add_option("--console-socket", a->console_socket, "Unix socket that receives the pty master");
        c->add_option("-e,--env", a->env, "Set an environment variable KEY=VALUE (repeatable)")->allow_extra_args(false);
        c->add_option("--cwd", a->cwd, "Working directory inside the container");
        c->add_option("-u,--user", a->user, "uid[:gid] to run as");
        c->add_option("-g,--additional-gids", a->gids, "Additional group id (repeatable)")->allow_extra_args(false);
        c->add_option("-c,--cap", a->caps, "Add a capability to all sets (repeatable)")->allow_extra_args(false);
        c->add_flag("--no-new-privs", a->nnp, "Set no_new_privs");
        c->add_option("--preserve-fds", a->preserve_fds, "Pass N extra fds")->check(CLI::NonNegativeNumber);
        c->add_option("--apparmor", a->apparmor, "AppArmor profile (refused: not supported)")->allow_extra_args(false);
        c->add_option("--process-label", a->label, "SELinux label (refused: not supported)")->allow_extra_args(false);
        // main() puts a "--" after the container id, so that the command's own
        // options (sh -c ...) are never taken for ours.
        c->add_option("id", a->id, "Container id")->required();
        c->add_option("args", a->args, "Command and arguments");
        c->callback([&ctx, a] {
            run_command(ctx, [&] {
                auto g = ctx.global();
                runtime::ExecOptions o;
                o.id = a->id;
                o.detach = a->detach;
                o.pid_file = a->pid_file;
                o.console_socket = a->console_socket;
                o.preserve_fds = a->preserve_fds;
                if (!a->apparmor.empty() || !a->label.empty())
                    throw_error("exec \"{}\": --apparmor/--process-label: not supported: mxc does not apply LSM labels", a->id);
                if (!a->process_file.empty()) {
                    auto j = nlohmann::json::parse(read_input(a->process_file), nullptr, false);
                    if (j.is_discarded())
                        throw_error("exec \"{}\": {}: invalid JSON", a->id, a->process_file);
                    o.process = oci::parse_process(j, a->process_file);
                } else {
                    o.process = with_context(fmt::format("exec \"{}\"", a->id), [&] { return runtime::base_process(g, a->id); });
                    o.process.args = a->args;
                }
                if (a->tty)
                    o.process.terminal = true;
                for (const auto &e : a->env) {
                    auto key = e.substr(0, e.find('='));
                    std::erase_if(o.process.env, [&](const std::string &x) { return x.substr(0, x.find('=')) == key; });
                    o.process.env.push_back(e);
                }
                if (!a->cwd.empty())
                    o.process.cwd = a->cwd;
                if (!a->user.empty()) {
                    auto colon = a->user.find(':');
                    try {
                        o.process.user.uid = static_cast<uint32_t>(std::stoul(a->user.substr(0, colon)));
                        if (colon != std::string::npos)
                            o.process.user.gid = static_cast<uint32_t>(std::stoul(a->user.substr(colon + 1)));
                    } catch (...) {
                        throw_error("exec \"{}\": --user: expected uid[:gid], got \"{}\"", a->id, a->user);
                    }
                }
                if (!a->gids.empty())
                    o.process.user.additional_gids = a->gids;
                if (!a->caps.empty()) {
                    if (!o.process.capabilities)
                        o.process.capabilities.emplace();
                    auto &cs = *o.process.capabilities;
                    for (const auto &cap : a->caps) {
                        with_context(fmt::format("exec \"{}\": --cap", a->id), [&] { sandbox::capability_from_name(cap); });
                        for (auto *set : {&cs.bounding, &cs.effective, &cs.permitted, &cs.inheritable, &cs.ambient})
                            set->push_back(cap);
                    }
                }
                if (a->nnp)
                    o.process.no_new_privileges = true;
                return runtime::exec(g, o);
            });
        });
    }
    if (ctx.wants("update")) {
        struct UpdateArgs {
            std::string id, resources, memory, memory_reservation, memory_swap, cpuset_cpus, cpuset_mems;
            std::optional<int64_t> pids_limit, cpu_quota, cpu_rt_runtime;
            std::optional<uint64_t> cpu_period, cpu_shares, cpu_rt_period;
            std::optional<uint16_t> blkio_weight;
        };
        auto a = std::make_shared<UpdateArgs>();
        auto *c = app.add_subcommand("update", "Change the resource limits of a running container");
        c->add_option("-r,--resources", a->resources, "runtime-spec linux.resources JSON file, or - for stdin");
        c->add_option("--memory", a->memory, "Memory limit (bytes, or with k/m/g suffix)");
        c->add_option("--memory-reservation", a->memory_reservation, "Memory soft limit");
        c->add_option("--memory-swap", a->memory_swap, "Memory + swap limit");
        c->add_option("--pids-limit", a->pids_limit, "Maximum number of processes");
        c->add_option("--cpu-quota", a->cpu_quota, "CFS quota in microseconds per period");
        c->add_option("--cpu-period", a->cpu_period, "CFS period in microseconds");
        c->add_option("--cpu-shares", a->cpu_shares, "CPU shares (relative weight)");
        c->add_option("--cpu-rt-runtime", a->cpu_rt_runtime, "Realtime runtime in microseconds");
        c->add_option("--cpu-rt-period", a->cpu_rt_period, "Realtime period in microseconds");
        c->add_option("--cpuset-cpus", a->cpuset_cpus, "CPUs allowed, e.g. 0-1");
        c->add_option("--cpuset-mems", a->cpuset_mems, "Memory nodes allowed");
        c->add_option("--blkio-weight", a->blkio_weight, "Block IO weight (10-1000)");
        c->add_option("id", a->id, "Container id")->required();
        c->callback([&ctx, a] {
            run_command(ctx, [&] {
                oci::Resources r;
                if (!a->resources.empty()) {
                    auto j = nlohmann::json::parse(read_input(a->resources), nullptr, false);
                    if (j.is_discarded())
                        throw_error("update \"{}\": {}: invalid JSON", a->id, a->resources);
                    r = oci::parse_resources(j, a->resources == "-" ? "stdin" : a->resources);
                }
                auto mem = [&]() -> oci::Memory & {
                    if (!r.memory)
                        r.memory.emplace();
                    return *r.memory;
                };
                auto cpu = [&]() -> oci::Cpu & {
                    if (!r.cpu)
                        r.cpu.emplace();
                    return *r.cpu;
                };
                auto ctx_update = fmt::format("update \"{}\"", a->id);
                if (!a->memory.empty()) mem().limit = with_context(ctx_update, [&] { return parse_size(a->memory, "--memory"); });
                if (!a->memory_reservation.empty()) mem().reservation = with_context(ctx_update, [&] { return parse_size(a->memory_reservation, "--memory-reservation"); });
                if (!a->memory_swap.empty()) mem().swap = with_context(ctx_update, [&] { return parse_size(a->memory_swap, "--memory-swap"); });
                if (a->pids_limit) r.pids = oci::Pids{*a->pids_limit};
                if (a->cpu_quota) cpu().quota = *a->cpu_quota;
                if (a->cpu_period) cpu().period = *a->cpu_period;
                if (a->cpu_shares) cpu().shares = *a->cpu_shares;
                if (a->cpu_rt_runtime) cpu().realtime_runtime = *a->cpu_rt_runtime;
                if (a->cpu_rt_period) cpu().realtime_period = *a->cpu_rt_period;
                if (!a->cpuset_cpus.empty()) cpu().cpus = a->cpuset_cpus;
                if (!a->cpuset_mems.empty()) cpu().mems = a->cpuset_mems;
                if (a->blkio_weight) {
                    r.block_io.emplace();
                    r.block_io->weight = *a->blkio_weight;
                }
                if (r.empty())
                    throw_error("update \"{}\": nothing to update: give --resources or a limit flag", a->id);
                runtime::update(ctx.global(), a->id, r);
                return 0;
            });
        });
    }
}

} // namespace mxc::cli
