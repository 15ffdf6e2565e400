// Checkpoint signing helpers: fingerprints, base64, the identity signer, and
// where streams live by default.
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "mxc/util/user.hpp"
#include "mxc/audit/stream.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"

namespace mxc::audit {

std::string key_fingerprint(const std::string &pem) {
    try {
        return identity::public_key_fingerprint(pem);
    } catch (const Error &) {
        throw Error("public key: not an Ed25519 PEM SubjectPublicKeyInfo");
    }
}

std::string base64_encode(std::string_view bytes) { return crypto::base64_encode(bytes); }

std::string base64_decode(std::string_view text) { return crypto::base64_decode(text); }

Signer identity_signer(const identity::IdentityStore &store, const std::string &name) {
    identity::Identity id = identity::show(store, name);
    Signer s;
    s.name = id.name;
    s.public_key_pem = id.public_key;
    s.sign = identity::signing_key(store, name);
    return s;
}

std::string default_base_dir() {
    if (const char *s = std::getenv("MXC_STATE_DIR"); s && *s)
        return std::string(s) + "/audit";
    if (::geteuid() == 0)
        return "/var/lib/mxc/audit";
    if (const char *x = std::getenv("XDG_DATA_HOME"); x && *x)
        return std::string(x) + "/mxc/audit";
    const char *home = std::getenv("HOME");
    std::string h = home && *home ? home : "";
    if (h.empty())
        if (auto u = user_entry(::geteuid()))
            h = u->home;
    if (h.empty())
        throw Error("audit: cannot find the home directory for the audit streams");
    return h + "/.local/share/mxc/audit";
}

} // namespace mxc::audit
