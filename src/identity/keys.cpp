// Ed25519 keys in the PEM forms of RFC 8410, fingerprints, UUIDs, signatures,
// base64url (mxc/util/crypto.hpp: libsodium).
#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>

#include "internal.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"

namespace mxc::identity {

namespace detail {

namespace {

// An Ed25519 key in its DER encodings (RFC 8410): a SubjectPublicKeyInfo,
// and a PKCS#8 PrivateKeyInfo without the optional public key, are these
// bytes followed by the 32-byte key.  (What OpenSSL writes for one, too.)
constexpr unsigned char kEd25519Spki[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr unsigned char kEd25519Pkcs8[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                           0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
constexpr size_t kEd25519Len = 32;

template <size_t N> std::string der_of(const unsigned char (&prefix)[N], std::string_view key) {
    std::string der(reinterpret_cast<const char *>(prefix), N);
    der.append(key);
    return der;
}

std::string pem_of(std::string_view label, std::string der) {
    std::string b64 = crypto::base64_encode(der);
    crypto::wipe(der);
    std::string pem = fmt::format("-----BEGIN {}-----\n", label);
    for (size_t i = 0; i < b64.size(); i += 64)
        pem.append(b64, i, 64).push_back('\n');
    pem += fmt::format("-----END {}-----\n", label);
    crypto::wipe(b64);
    return pem;
}

// The key inside the first PEM block labelled `label` (RFC 7468, read
// laxly: text around the block and whitespace or CRLF inside it are
// ignored) whose DER is `prefix` and kEd25519Len bytes; nullopt otherwise.
template <size_t N>
std::optional<std::string> ed25519_key(std::string_view pem, std::string_view label, const unsigned char (&prefix)[N]) {
    std::string begin = fmt::format("-----BEGIN {}-----", label);
    std::string end = fmt::format("-----END {}-----", label);
    size_t b = pem.find(begin);
    if (b == std::string_view::npos)
        return std::nullopt;
    size_t e = pem.find(end, b + begin.size());
    if (e == std::string_view::npos)
        return std::nullopt;
    std::string b64;
    for (char c : pem.substr(b + begin.size(), e - b - begin.size()))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            b64 += c;
    std::string der;
    try {
        der = crypto::base64_decode(b64);
    } catch (const Error &) {
        crypto::wipe(b64);
        return std::nullopt;
    }
    crypto::wipe(b64);
    if (der.size() != N + kEd25519Len || std::memcmp(der.data(), prefix, N) != 0) {
        crypto::wipe(der);
        return std::nullopt;
    }
    std::string key = der.substr(N);
    crypto::wipe(der);
    return key;
}

} // namespace

std::string private_key_pem(std::string_view seed) { return pem_of("PRIVATE KEY", der_of(kEd25519Pkcs8, seed)); }

std::string public_key_pem(std::string_view public_key) {
    return pem_of("PUBLIC KEY", der_of(kEd25519Spki, public_key));
}

std::string read_private_key_pem(std::string_view pem) {
    if (auto seed = ed25519_key(pem, "PRIVATE KEY", kEd25519Pkcs8))
        return std::move(*seed);
    throw Error("not an Ed25519 private key in PEM (PKCS#8, RFC 8410)");
}

std::string read_public_key_pem(std::string_view pem) {
    if (auto key = ed25519_key(pem, "PUBLIC KEY", kEd25519Spki))
        return std::move(*key);
    throw Error("not an Ed25519 public key in PEM (SubjectPublicKeyInfo, RFC 8410)");
}

std::string fingerprint(std::string_view public_key) { return crypto::sha256_hex(der_of(kEd25519Spki, public_key)); }

std::string public_key_fingerprint(std::string_view pem) { return fingerprint(read_public_key_pem(pem)); }

std::string uuid_v4() {
    std::array<unsigned char, 16> b{};
    crypto::random_bytes(b.data(), b.size());
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40); // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80); // RFC 4122 variant
    std::string s;
    for (size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s += '-';
        s += fmt::format("{:02x}", b[i]);
    }
    return s;
}

int64_t now_seconds() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec);
}

} // namespace detail

using namespace detail;

std::string public_key_fingerprint(std::string_view public_key_pem) {
    return detail::public_key_fingerprint(public_key_pem);
}

bool verify(const std::string &public_key_pem, std::string_view data, std::string_view sig) {
    return crypto::ed25519_verify(read_public_key_pem(public_key_pem), data, sig);
}

std::string base64url_encode(std::string_view bytes) { return crypto::base64_encode(bytes, true, false); }

std::string base64url_decode(std::string_view text) { return crypto::base64_decode(text, true, false); }

std::string rfc3339(int64_t seconds) {
    time_t t = static_cast<time_t>(seconds);
    struct tm tm {};
    if (!::gmtime_r(&t, &tm))
        return fmt::format("@{}", seconds);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace mxc::identity
