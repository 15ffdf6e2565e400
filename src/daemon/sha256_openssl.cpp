// mxcd's SHA-256: OpenSSL's, which uses the CPU's SHA extensions (see
// mxc/util/crypto.hpp for why mxc itself stays on libsodium's).
#include "sha256_openssl.hpp"

#include <openssl/evp.h>

#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"

namespace mxc::daemon {

namespace {

// The state holds one EVP_MD_CTX pointer; OpenSSL 3 looks a digest up on
// every EVP_sha256() init (locks and all), so it is fetched once.
EVP_MD *g_md = nullptr;

EVP_MD_CTX *&ctx_of(void *state) { return *static_cast<EVP_MD_CTX **>(state); }

void init(void *state) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, g_md, nullptr) != 1) {
        EVP_MD_CTX_free(c);
        throw Error("SHA-256 (OpenSSL): cannot start a digest (out of memory, or no SHA256 in the default provider)");
    }
    ctx_of(state) = c;
}

void update(void *state, const void *data, size_t n) {
    if (EVP_DigestUpdate(ctx_of(state), data, n) != 1)
        throw Error("SHA-256: update failed");
}

void finish(void *state, unsigned char out[32]) {
    EVP_MD_CTX *c = ctx_of(state);
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
    if (ok != 1 || len != 32)
        throw Error("SHA-256: final failed");
}

const crypto::Sha256Backend kOpenSslSha256 = {init, update, finish};

} // namespace

void use_openssl_sha256() {
    g_md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!g_md)
        throw Error("OpenSSL: no SHA256 digest");
    crypto::set_sha256_backend(&kOpenSslSha256);
}

} // namespace mxc::daemon
