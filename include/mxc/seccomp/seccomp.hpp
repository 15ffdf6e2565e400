// OCI seccomp (linux.seccomp) -> libseccomp filter.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mxc/oci/spec.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::seccomp {

// A compiled but not yet loaded filter.
class Filter {
public:
    Filter();
    ~Filter();
    Filter(Filter &&) noexcept;
    Filter &operator=(Filter &&) noexcept;

    // Load into the calling thread/process.  Returns the notify listener fd when
    // the filter has a SCMP_ACT_NOTIFY rule (else an empty fd).
    UniqueFd load();
    bool has_notify() const;
    // Size of the BPF program in instructions (for tests).
    size_t bpf_instructions() const;

    struct Impl;
    std::unique_ptr<Impl> impl;
};

// Build from the OCI form.  Errors name the field:
// "config.json: .linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\"".
Filter compile(const oci::Seccomp &spec, const std::string &source_name = "config.json");

// Send the notify fd and the container state over linux.seccomp.listenerPath, as
// the runtime-spec describes (SCM_RIGHTS with the state JSON as payload).
void send_listener_fd(const std::string &listener_path, int notify_fd, const nlohmann::json &state);

// Whether the host kernel + libseccomp support user notification.
bool notify_supported();

} // namespace mxc::seccomp
