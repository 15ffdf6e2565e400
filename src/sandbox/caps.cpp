// Capability names and the capability sets of the container process (libcap).
#include <sys/capability.h>
#include <sys/prctl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <set>

#include "mxc/sandbox/process_setup.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

namespace mxc::sandbox {
namespace {

struct CapFree {
    void operator()(void *p) const noexcept { cap_free(p); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

// One entry per OCI set: the JSON key and the list in the Capabilities value.
struct NamedSet {
    const char *key;
    const std::vector<std::string> oci::Capabilities::*list;
};
constexpr std::array<NamedSet, 5> kSets{{
    {"bounding", &oci::Capabilities::bounding},
    {"effective", &oci::Capabilities::effective},
    {"inheritable", &oci::Capabilities::inheritable},
    {"permitted", &oci::Capabilities::permitted},
    {"ambient", &oci::Capabilities::ambient},
}};

// Names -> numbers for one set.  Names are checked against libcap; numbers
// above what the running kernel knows are skipped with a warning, as runc
// does, so that one config.json serves older kernels too.
std::set<int> numbers_of(const std::vector<std::string> &names, const char *key) {
    std::set<int> out;
    int last = last_capability();
    for (size_t i = 0; i < names.size(); ++i) {
        int cap = with_context(fmt::format(".process.capabilities.{}[{}]", key, i),
                               [&] { return capability_from_name(names[i]); });
        if (cap > last) {
            log::warn("capability {} ({}) is not known to the running kernel (cap_last_cap {}); ignored", names[i],
                      key, last);
            continue;
        }
        out.insert(cap);
    }
    return out;
}

} // namespace

int capability_from_name(const std::string &name) {
    std::string lower;
    for (char c : name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // OCI names always carry the prefix; libcap also accepts bare numbers
    // ("12"), which config.json must not use.
    bool ok = lower.size() > 4 && lower.compare(0, 4, "cap_") == 0 &&
              std::all_of(lower.begin() + 4, lower.end(),
                          [](char c) { return (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9'); }) &&
              !(lower[4] >= '0' && lower[4] <= '9');
    cap_value_t v = -1;
    if (!ok || cap_from_name(lower.c_str(), &v) != 0 || v < 0 || v > 63)
        throw_error("unknown capability \"{}\"", name);
    return static_cast<int>(v);
}

std::string capability_name(int cap) {
    std::string out;
    if (char *n = cap_to_name(static_cast<cap_value_t>(cap))) {
        out = n;
        cap_free(n);
    }
    // libcap spells caps it has no name for as plain numbers.
    if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
        return fmt::format("CAP_{}", cap);
    for (auto &c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

void check_capability_names(const oci::Capabilities &caps, const std::string &where) {
    for (const auto &s : kSets) {
        const auto &list = caps.*(s.list);
        for (size_t i = 0; i < list.size(); ++i)
            with_context(fmt::format("{}.{}[{}]", where, s.key, i), [&] { capability_from_name(list[i]); });
    }
}

int last_capability() {
    try {
        return std::stoi(read_file("/proc/sys/kernel/cap_last_cap"));
    } catch (const std::exception &) {
        // No /proc yet (or an old kernel): ask the kernel through libcap,
        // which probes PR_CAPBSET_READ.
        return static_cast<int>(cap_max_bits()) - 1;
    }
}

void apply_bounding_set(const oci::Capabilities &caps) {
    std::set<int> keep = numbers_of(caps.bounding, "bounding");
    int last = last_capability();
    // Dropping a capability the set no longer has succeeds; the set is read
    // only when a drop fails (no CAP_SETPCAP: fine for what is already gone).
    // One prctl per capability where reading first took two.
    for (int cap = 0; cap <= last; ++cap) {
        if (keep.count(cap) || cap_drop_bound(static_cast<cap_value_t>(cap)) == 0)
            continue;
        int err = errno;
        if (cap_get_bound(static_cast<cap_value_t>(cap)) != 1)
            continue;
        errno = err;
        throw_errno("drop {} from the bounding set", capability_name(cap));
    }
}

void apply_capability_sets(const oci::Capabilities &caps) {
    std::set<int> eff = numbers_of(caps.effective, "effective");
    std::set<int> prm = numbers_of(caps.permitted, "permitted");
    std::set<int> inh = numbers_of(caps.inheritable, "inheritable");
    std::set<int> amb = numbers_of(caps.ambient, "ambient");

    // capset(2) would only say EPERM; name the capability instead.
    for (int c : eff)
        if (!prm.count(c))
            throw_error(".process.capabilities.effective: {} is not in the permitted set", capability_name(c));
    // The kernel only keeps an ambient capability that is both permitted and
    // inheritable (capabilities(7)).  runc skips the others (`runc spec` itself
    // lists ambient caps without inheritable ones), and so do we, with a note.
    for (auto it = amb.begin(); it != amb.end();) {
        if (!prm.count(*it) || !inh.count(*it)) {
            log::debug(".process.capabilities.ambient: {} skipped: not in both permitted and inheritable",
                       capability_name(*it));
            it = amb.erase(it);
        } else {
            ++it;
        }
    }

    CapPtr state(cap_init());
    if (!state)
        throw_errno("cap_init");
    auto fill = [&](cap_flag_t flag, const std::set<int> &s) {
        std::vector<cap_value_t> v(s.begin(), s.end());
        if (!v.empty() && cap_set_flag(state.get(), flag, static_cast<int>(v.size()), v.data(), CAP_SET) != 0)
            throw_errno("cap_set_flag");
    };
    fill(CAP_EFFECTIVE, eff);
    fill(CAP_PERMITTED, prm);
    fill(CAP_INHERITABLE, inh);
    if (cap_set_proc(state.get()) != 0) {
        int err = errno;
        std::string hint;
        if (err == EPERM)
            hint = " (an inheritable capability outside the bounding set, or a permitted one the runtime lacks?)";
        throw Error(err, "set capabilities" + hint);
    }

    // Ambient exactly as listed: clear whatever was inherited first (one
    // prctl; libcap's cap_reset_ambient asks about each capability first).
    // EINVAL: a kernel without ambient capabilities, where none are inherited.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && !amb.empty())
        throw_errno("clear the ambient capability set");
    for (int c : amb)
        if (cap_set_ambient(static_cast<cap_value_t>(c), CAP_SET) != 0)
            throw_errno("raise ambient capability {}", capability_name(c));
}

} // namespace mxc::sandbox
