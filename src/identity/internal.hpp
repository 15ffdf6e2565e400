// OpenSSL owners and helpers shared by the identity sources.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

namespace mxc::identity::detail {

template <auto Fn> struct Deleter {
    template <typename T> void operator()(T *p) const noexcept { Fn(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

// Throws mxc::Error "what: <first OpenSSL reason>" and clears the error queue.
[[noreturn]] void throw_ssl(const std::string &what);

PkeyPtr generate_ed25519();
std::string private_key_pem(EVP_PKEY *key); // PKCS#8
std::string public_key_pem(EVP_PKEY *key);  // SubjectPublicKeyInfo
PkeyPtr read_private_key_pem(std::string_view pem);
PkeyPtr read_public_key_pem(std::string_view pem);
// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
std::string fingerprint(EVP_PKEY *key);
// The same, of a public key in PEM; throws when it is not one.
std::string public_key_fingerprint(std::string_view pem);
std::string uuid_v4();
int64_t now_seconds();

} // namespace mxc::identity::detail
