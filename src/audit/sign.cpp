// Checkpoint signing helpers: fingerprints, base64, the identity signer, and
// where streams live by default.
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "mxc/audit/stream.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/error.hpp"

namespace mxc::audit {

std::string key_fingerprint(const std::string &pem) {
    try {
        return identity::public_key_fingerprint(pem);
    } catch (const Error &) {
        ERR_clear_error();
        throw Error("public key: not a PEM SubjectPublicKeyInfo");
    }
}

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string base64_decode(std::string_view text) {
    if (text.size() % 4 != 0)
        throw Error("invalid base64 length");
    for (char c : text)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
            throw Error("invalid base64 character");
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(text.data()), static_cast<int>(text.size()));
    if (n < 0)
        throw Error("invalid base64");
    // EVP_DecodeBlock counts padding as zero bytes.
    size_t pad = 0;
    for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i)
        ++pad;
    if (pad > 2)
        throw Error("invalid base64 padding");
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

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
        if (struct passwd *pw = ::getpwuid(::geteuid()))
            h = pw->pw_dir;
    if (h.empty())
        throw Error("audit: cannot find the home directory for the audit streams");
    return h + "/.local/share/mxc/audit";
}

} // namespace mxc::audit
