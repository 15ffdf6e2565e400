#include "mxc/util/crypto.hpp"

#include <sodium.h>

#include <fmt/format.h>

#include "mxc/util/error.hpp"

namespace mxc::crypto {

namespace {

// sodium_init is idempotent and thread-safe; it picks the CPU's code paths
// and opens the random source.
void init() {
    static const int rc = sodium_init();
    if (rc < 0)
        throw Error("libsodium: initialisation failed");
}

const unsigned char *bytes(std::string_view s) { return reinterpret_cast<const unsigned char *>(s.data()); }

int variant(bool url, bool pad) {
    if (url)
        return pad ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    return pad ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
}

} // namespace

static_assert(sizeof(crypto_hash_sha256_state) <= 256, "Sha256Stream::state_ too small");

namespace {

const Sha256Backend kSodiumSha256 = {
    [](void *s) { crypto_hash_sha256_init(static_cast<crypto_hash_sha256_state *>(s)); },
    [](void *s, const void *d, size_t n) {
        crypto_hash_sha256_update(static_cast<crypto_hash_sha256_state *>(s), static_cast<const unsigned char *>(d), n);
    },
    [](void *s, unsigned char out[32]) { crypto_hash_sha256_final(static_cast<crypto_hash_sha256_state *>(s), out); },
};
const Sha256Backend *g_sha256 = &kSodiumSha256;

} // namespace

void set_sha256_backend(const Sha256Backend *backend) { g_sha256 = backend ? backend : &kSodiumSha256; }

Sha256 sha256(std::string_view data) {
    Sha256Stream h;
    h.update(data);
    return h.finish();
}

std::string sha256_hex(std::string_view data) {
    Sha256 d = sha256(data);
    char hex[2 * kSha256Len + 1];
    sodium_bin2hex(hex, sizeof hex, d.data(), d.size());
    return std::string(hex, 2 * kSha256Len);
}

Sha256Stream::Sha256Stream() : backend_(g_sha256) { backend_->init(state_); }

Sha256Stream::~Sha256Stream() {
    if (!finished_) {
        unsigned char scrap[32];
        try {
            backend_->finish(state_, scrap);
        } catch (...) {
        }
    }
}

void Sha256Stream::update(std::string_view data) { backend_->update(state_, data.data(), data.size()); }

Sha256 Sha256Stream::finish() {
    Sha256 out{};
    backend_->finish(state_, out.data());
    finished_ = true;
    return out;
}

Ed25519Pair ed25519_generate() {
    init();
    Ed25519Pair p;
    p.seed.resize(kEd25519SeedLen);
    random_bytes(p.seed.data(), p.seed.size());
    p.public_key = ed25519_public_of(p.seed);
    return p;
}

std::string ed25519_public_of(std::string_view seed) {
    if (seed.size() != kEd25519SeedLen)
        throw Error(fmt::format("Ed25519: a private key has {} bytes, not {}", kEd25519SeedLen, seed.size()));
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, bytes(seed));
    sodium_memzero(sk, sizeof sk);
    return std::string(reinterpret_cast<const char *>(pk), sizeof pk);
}

std::string ed25519_sign(std::string_view seed, std::string_view message) {
    init();
    if (seed.size() != kEd25519SeedLen)
        throw Error(fmt::format("Ed25519: a private key has {} bytes, not {}", kEd25519SeedLen, seed.size()));
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, bytes(seed));
    std::string sig(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char *>(sig.data()), nullptr, bytes(message), message.size(), sk);
    sodium_memzero(sk, sizeof sk);
    return sig;
}

bool ed25519_verify(std::string_view public_key, std::string_view message, std::string_view signature) {
    init();
    if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES)
        return false;
    return crypto_sign_verify_detached(bytes(signature), bytes(message), message.size(), bytes(public_key)) == 0;
}

void random_bytes(void *buf, size_t n) {
    init();
    randombytes_buf(buf, n);
}

void wipe(void *buf, size_t n) { sodium_memzero(buf, n); }

std::string base64_encode(std::string_view in, bool url, bool pad) {
    int v = variant(url, pad);
    std::string out(sodium_base64_encoded_len(in.size(), v), '\0');
    sodium_bin2base64(out.data(), out.size(), bytes(in), in.size(), v);
    out.resize(out.size() - 1); // the terminating NUL
    return out;
}

std::string base64_decode(std::string_view text, bool url, bool pad) {
    std::string out(text.size() / 4 * 3 + 3, '\0');
    size_t len = 0;
    const char *end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char *>(out.data()), out.size(), text.data(), text.size(), nullptr,
                          &len, &end, variant(url, pad)) != 0 ||
        end != text.data() + text.size())
        throw Error(fmt::format("invalid base64{}", url ? "url" : ""));
    out.resize(len);
    return out;
}

} // namespace mxc::crypto
