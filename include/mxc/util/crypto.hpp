// The cryptography mxc does on every sandbox start (SHA-256 hash chains,
// Ed25519 keys and signatures, base64), on libsodium.
//
// Why not OpenSSL, which mxc used first: loading libcrypto.so.3 costs every
// process ≈ 1 ms here before main() runs (3,200 symbol lookups of the library
// binding to itself, ~100 copy-on-write pages of relocations) and another
// ≈ 0.5 ms to set up its providers on first use; libsodium costs ≈ 0.05 ms.
// OpenSSL is still used, loaded on demand, where mxc needs RSA and ECDSA:
// verifying OIDC tokens (identity/jwt.cpp).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace mxc::crypto {

constexpr size_t kSha256Len = 32;
constexpr size_t kEd25519SeedLen = 32;   // the private key as PKCS#8 stores it (RFC 8410)
constexpr size_t kEd25519PublicLen = 32;
constexpr size_t kEd25519SigLen = 64;

using Sha256 = std::array<unsigned char, kSha256Len>;

Sha256 sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

// SHA-256 is libsodium's portable code unless a faster one is installed.
// mxcd, which hashes every record of every stream (≥ 500 k records/s),
// installs OpenSSL's (SHA-NI here: 0.32 µs for a 380-byte record against
// libsodium's 1.36 µs, see sha256_openssl.cpp); mxc hashes a few records
// per run and does not load OpenSSL for them.  Set once, before threads.
struct Sha256Backend {
    void (*init)(void *state);                         // state: 256 bytes, 16-aligned
    void (*update)(void *state, const void *data, size_t n);
    void (*finish)(void *state, unsigned char out[32]); // also releases the state
};
void set_sha256_backend(const Sha256Backend *backend);

// Incremental SHA-256.
class Sha256Stream {
public:
    Sha256Stream();
    ~Sha256Stream();
    Sha256Stream(const Sha256Stream &) = delete;
    Sha256Stream &operator=(const Sha256Stream &) = delete;
    void update(std::string_view data);
    Sha256 finish();

private:
    alignas(16) unsigned char state_[256];
    const Sha256Backend *backend_;
    bool finished_ = false;
};

// A fresh key pair: the 32-byte seed (secret) and the public key.
struct Ed25519Pair {
    std::string seed, public_key;
};
Ed25519Pair ed25519_generate();
std::string ed25519_public_of(std::string_view seed);
// RFC 8032 signatures (the same bytes OpenSSL's Ed25519 gives).
std::string ed25519_sign(std::string_view seed, std::string_view message);
bool ed25519_verify(std::string_view public_key, std::string_view message, std::string_view signature);

void random_bytes(void *buf, size_t n);
// Overwrites secrets where the compiler cannot drop the write.
void wipe(void *buf, size_t n);
inline void wipe(std::string &s) { wipe(s.data(), s.size()); }

// RFC 4648 base64: `url` is the URL alphabet, `pad` the trailing '='.
// decode throws mxc::Error on anything but exactly that encoding.
std::string base64_encode(std::string_view bytes, bool url = false, bool pad = true);
std::string base64_decode(std::string_view text, bool url = false, bool pad = true);

} // namespace mxc::crypto
