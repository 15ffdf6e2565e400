// Ed25519 keys, fingerprints, UUIDs, signatures, base64url: thin uses of
// OpenSSL 3 EVP.
#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "internal.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/error.hpp"

namespace mxc::identity {

namespace detail {

void throw_ssl(const std::string &what) {
    unsigned long e = ERR_peek_last_error();
    std::string reason;
    if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        reason = r ? r : fmt::format("OpenSSL error {:#x}", e);
    }
    ERR_clear_error();
    if (reason.empty())
        throw Error(what);
    throw Error(fmt::format("{}: {}", what, reason));
}

PkeyPtr generate_ed25519() {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key)
        throw_ssl("generate Ed25519 key");
    return key;
}

namespace {

std::string bio_contents(BIO *bio) {
    char *data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(n));
}

BioPtr mem_bio() {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio)
        throw_ssl("BIO_new");
    return bio;
}

} // namespace

std::string private_key_pem(EVP_PKEY *key) {
    auto bio = mem_bio();
    // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY").
    if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr))
        throw_ssl("encode private key");
    return bio_contents(bio.get());
}

std::string public_key_pem(EVP_PKEY *key) {
    auto bio = mem_bio();
    if (!PEM_write_bio_PUBKEY(bio.get(), key))
        throw_ssl("encode public key");
    return bio_contents(bio.get());
}

namespace {

// An Ed25519 key in the encodings OpenSSL writes for it (RFC 8410): the DER
// of a SubjectPublicKeyInfo, and of a PKCS#8 PrivateKeyInfo without the
// optional public key, are these bytes followed by the 32-byte key.
constexpr unsigned char kEd25519Spki[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr unsigned char kEd25519Pkcs8[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                           0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
constexpr size_t kEd25519Len = 32;

// The DER of a PEM that is exactly one block labelled `label` (base64 lines
// of at most 64 characters, an optional final newline) and whose DER starts
// with `prefix` and has kEd25519Len bytes after it; nullopt for anything
// else, which the caller hands to OpenSSL's PEM decoders.  Those set up
// OpenSSL 3's decoder machinery for every key read (about a millisecond per
// key here); the keys this store writes are all of this one shape.
template <size_t N>
std::optional<std::string> ed25519_der(std::string_view pem, std::string_view label, const unsigned char (&prefix)[N]) {
    std::string begin = fmt::format("-----BEGIN {}-----\n", label);
    std::string end = fmt::format("\n-----END {}-----", label);
    if (pem.substr(0, begin.size()) != begin)
        return std::nullopt;
    pem.remove_prefix(begin.size());
    if (!pem.empty() && pem.back() == '\n')
        pem.remove_suffix(1);
    if (pem.size() < end.size() || pem.substr(pem.size() - end.size()) != end)
        return std::nullopt;
    pem.remove_suffix(end.size());
    std::string b64;
    size_t line = 0;
    for (char c : pem) {
        if (c == '\n') {
            line = 0;
            continue;
        }
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
                  c == '=';
        if (!ok || ++line > 64)
            return std::nullopt;
        b64 += c;
    }
    constexpr size_t der_len = N + kEd25519Len;
    if (b64.size() != 4 * ((der_len + 2) / 3))
        return std::nullopt;
    std::string der(b64.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(der.data()),
                            reinterpret_cast<const unsigned char *>(b64.data()), static_cast<int>(b64.size()));
    size_t pad = static_cast<size_t>(std::count(b64.begin(), b64.end(), '='));
    if (pad > 2 || b64.find('=') < b64.size() - pad) // '=' only at the end
        return std::nullopt;
    OPENSSL_cleanse(b64.data(), b64.size());
    if (n < 0 || pad != (3 - der_len % 3) % 3 || static_cast<size_t>(n) - pad != der_len ||
        std::memcmp(der.data(), prefix, N) != 0) {
        OPENSSL_cleanse(der.data(), der.size());
        return std::nullopt;
    }
    der.resize(der_len);
    return der;
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int mdlen = 0;
    if (!EVP_Digest(data.data(), data.size(), md.data(), &mdlen, EVP_sha256(), nullptr))
        throw_ssl("SHA-256");
    std::string hex;
    for (unsigned i = 0; i < mdlen; ++i)
        hex += fmt::format("{:02x}", md[i]);
    return hex;
}

} // namespace

PkeyPtr read_private_key_pem(std::string_view pem) {
    if (auto der = ed25519_der(pem, "PRIVATE KEY", kEd25519Pkcs8)) {
        PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                 reinterpret_cast<const unsigned char *>(der->data()) +
                                                     sizeof kEd25519Pkcs8,
                                                 kEd25519Len));
        OPENSSL_cleanse(der->data(), der->size());
        if (!key)
            throw_ssl("read private key");
        return key;
    }
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        throw_ssl("BIO_new_mem_buf");
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key)
        throw_ssl("read private key");
    return key;
}

PkeyPtr read_public_key_pem(std::string_view pem) {
    if (auto der = ed25519_der(pem, "PUBLIC KEY", kEd25519Spki)) {
        PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char *>(der->data()) +
                                                    sizeof kEd25519Spki,
                                                kEd25519Len));
        if (!key)
            throw_ssl("read public key");
        return key;
    }
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        throw_ssl("BIO_new_mem_buf");
    PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key)
        throw_ssl("read public key");
    return key;
}

std::string fingerprint(EVP_PKEY *key) {
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        // i2d_PUBKEY's DER, without OpenSSL's encoder set-up.
        std::string der(reinterpret_cast<const char *>(kEd25519Spki), sizeof kEd25519Spki);
        der.resize(sizeof kEd25519Spki + kEd25519Len);
        size_t len = kEd25519Len;
        if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char *>(der.data()) + sizeof kEd25519Spki,
                                        &len) != 1 ||
            len != kEd25519Len)
            throw_ssl("encode public key");
        return sha256_hex(der);
    }
    unsigned char *der = nullptr;
    int len = i2d_PUBKEY(key, &der);
    if (len <= 0)
        throw_ssl("encode public key");
    std::string copy(reinterpret_cast<const char *>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    return sha256_hex(copy);
}

std::string public_key_fingerprint(std::string_view pem) {
    if (auto der = ed25519_der(pem, "PUBLIC KEY", kEd25519Spki))
        return sha256_hex(*der);
    return fingerprint(read_public_key_pem(pem).get());
}

std::string uuid_v4() {
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
        throw_ssl("RAND_bytes");
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
    auto key = read_public_key_pem(public_key_pem);
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
        throw Error("verify: public key is not Ed25519");
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
        throw_ssl("verify: init");
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char *>(data.data()), data.size());
    ERR_clear_error();
    return rc == 1;
}

std::string base64url_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    for (auto &c : out)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

std::string base64url_decode(std::string_view text) {
    std::string in;
    in.reserve(text.size() + 3);
    for (char c : text) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            throw Error(fmt::format("invalid base64url character 0x{:02x}", static_cast<unsigned char>(c)));
        in += c == '-' ? '+' : c == '_' ? '/' : c;
    }
    if (in.size() % 4 == 1)
        throw Error("invalid base64url length");
    size_t pad = (4 - in.size() % 4) % 4;
    in.append(pad, '=');
    std::string out(in.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
    if (n < 0)
        throw Error("invalid base64url");
    // EVP_DecodeBlock counts the padding as zero bytes.
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

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
