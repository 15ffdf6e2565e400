// Offline verification of an OIDC JWT (compact JWS) against a JWKS document.
// RFC 7515 (JWS), 7517 (JWK), 7518 (algorithms), 7519 (claims), 8037 (EdDSA).
// Only asymmetric algorithms: an HMAC "key" in a JWKS would be a public secret.
//
// RSA and ECDSA need OpenSSL.  Only `identity create --token` verifies a
// token, so libcrypto is loaded here, on first use, rather than by every mxc
// process at start-up (≈ 1 ms each; see mxc/util/crypto.hpp).  The same
// pattern as systemd's optional libraries: one table of the functions used,
// resolved by dlsym against the headers' own prototypes.
#include <dlfcn.h>

#include <memory>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "internal.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/error.hpp"

namespace mxc::identity {

using namespace detail;
using nlohmann::json;

namespace {

#define MXC_SSL_FUNCTIONS(X)                                                                                           \
    X(BN_bin2bn) X(BN_free) X(CRYPTO_free) X(ECDSA_SIG_free) X(ECDSA_SIG_new) X(ECDSA_SIG_set0) X(ERR_clear_error)       \
    X(ERR_peek_last_error) X(ERR_reason_error_string) X(EVP_DigestVerify) X(EVP_DigestVerifyInit) X(EVP_MD_CTX_free)     \
    X(EVP_MD_CTX_new) X(EVP_PKEY_CTX_free) X(EVP_PKEY_CTX_new_from_name) X(EVP_PKEY_CTX_new_from_pkey)                 \
    X(EVP_PKEY_free) X(EVP_PKEY_fromdata) X(EVP_PKEY_fromdata_init) X(EVP_PKEY_get_bits) X(EVP_PKEY_new_raw_public_key) \
    X(EVP_PKEY_public_check) X(EVP_sha256) X(EVP_sha384) X(EVP_sha512) X(OSSL_PARAM_BLD_free) X(OSSL_PARAM_BLD_new)     \
    X(OSSL_PARAM_BLD_push_BN) X(OSSL_PARAM_BLD_push_octet_string) X(OSSL_PARAM_BLD_push_utf8_string)                    \
    X(OSSL_PARAM_BLD_to_param) X(OSSL_PARAM_free) X(i2d_ECDSA_SIG)

struct Ssl {
#define MXC_SSL_MEMBER(f) decltype(&::f) f = nullptr;
    MXC_SSL_FUNCTIONS(MXC_SSL_MEMBER)
#undef MXC_SSL_MEMBER
};

const Ssl &ssl() {
    static const Ssl table = [] {
        void *h = ::dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
        if (!h)
            throw Error(fmt::format("token verification needs OpenSSL 3 (libcrypto.so.3): {}", ::dlerror()));
        Ssl t;
#define MXC_SSL_LOAD(f)                                                                                                \
    if (!(t.f = reinterpret_cast<decltype(t.f)>(::dlsym(h, #f))))                                                      \
        throw Error("token verification: libcrypto.so.3 has no " #f);
        MXC_SSL_FUNCTIONS(MXC_SSL_LOAD)
#undef MXC_SSL_LOAD
        return t;
    }();
    return table;
}

// From here on the OpenSSL names call through the table.
#define MXC_SSL_CALL(f) (ssl().f)
#define BN_bin2bn MXC_SSL_CALL(BN_bin2bn)
#define BN_free MXC_SSL_CALL(BN_free)
#define CRYPTO_free MXC_SSL_CALL(CRYPTO_free)
#define ECDSA_SIG_free MXC_SSL_CALL(ECDSA_SIG_free)
#define ECDSA_SIG_new MXC_SSL_CALL(ECDSA_SIG_new)
#define ECDSA_SIG_set0 MXC_SSL_CALL(ECDSA_SIG_set0)
#define ERR_clear_error MXC_SSL_CALL(ERR_clear_error)
#define ERR_peek_last_error MXC_SSL_CALL(ERR_peek_last_error)
#define ERR_reason_error_string MXC_SSL_CALL(ERR_reason_error_string)
#define EVP_DigestVerify MXC_SSL_CALL(EVP_DigestVerify)
#define EVP_DigestVerifyInit MXC_SSL_CALL(EVP_DigestVerifyInit)
#define EVP_MD_CTX_free MXC_SSL_CALL(EVP_MD_CTX_free)
#define EVP_MD_CTX_new MXC_SSL_CALL(EVP_MD_CTX_new)
#define EVP_PKEY_CTX_free MXC_SSL_CALL(EVP_PKEY_CTX_free)
#define EVP_PKEY_CTX_new_from_name MXC_SSL_CALL(EVP_PKEY_CTX_new_from_name)
#define EVP_PKEY_CTX_new_from_pkey MXC_SSL_CALL(EVP_PKEY_CTX_new_from_pkey)
#define EVP_PKEY_free MXC_SSL_CALL(EVP_PKEY_free)
#define EVP_PKEY_fromdata MXC_SSL_CALL(EVP_PKEY_fromdata)
#define EVP_PKEY_fromdata_init MXC_SSL_CALL(EVP_PKEY_fromdata_init)
#define EVP_PKEY_get_bits MXC_SSL_CALL(EVP_PKEY_get_bits)
#define EVP_PKEY_new_raw_public_key MXC_SSL_CALL(EVP_PKEY_new_raw_public_key)
#define EVP_PKEY_public_check MXC_SSL_CALL(EVP_PKEY_public_check)
#define EVP_sha256 MXC_SSL_CALL(EVP_sha256)
#define EVP_sha384 MXC_SSL_CALL(EVP_sha384)
#define EVP_sha512 MXC_SSL_CALL(EVP_sha512)
#define OSSL_PARAM_BLD_free MXC_SSL_CALL(OSSL_PARAM_BLD_free)
#define OSSL_PARAM_BLD_new MXC_SSL_CALL(OSSL_PARAM_BLD_new)
#define OSSL_PARAM_BLD_push_BN MXC_SSL_CALL(OSSL_PARAM_BLD_push_BN)
#define OSSL_PARAM_BLD_push_octet_string MXC_SSL_CALL(OSSL_PARAM_BLD_push_octet_string)
#define OSSL_PARAM_BLD_push_utf8_string MXC_SSL_CALL(OSSL_PARAM_BLD_push_utf8_string)
#define OSSL_PARAM_BLD_to_param MXC_SSL_CALL(OSSL_PARAM_BLD_to_param)
#define OSSL_PARAM_free MXC_SSL_CALL(OSSL_PARAM_free)
#define i2d_ECDSA_SIG MXC_SSL_CALL(i2d_ECDSA_SIG)

// Owners that free through the table.
#define MXC_SSL_OWNER(Name, Type, freefn)                                                                              \
    struct Name##Free {                                                                                                \
        void operator()(Type *p) const noexcept { freefn(p); }                                                         \
    };                                                                                                                 \
    using Name = std::unique_ptr<Type, Name##Free>;
MXC_SSL_OWNER(PkeyPtr, EVP_PKEY, EVP_PKEY_free)
MXC_SSL_OWNER(PkeyCtxPtr, EVP_PKEY_CTX, EVP_PKEY_CTX_free)
MXC_SSL_OWNER(MdCtxPtr, EVP_MD_CTX, EVP_MD_CTX_free)
MXC_SSL_OWNER(BnPtr, BIGNUM, BN_free)
MXC_SSL_OWNER(ParamBldPtr, OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
MXC_SSL_OWNER(ParamPtr, OSSL_PARAM, OSSL_PARAM_free)
MXC_SSL_OWNER(EcdsaSigPtr, ECDSA_SIG, ECDSA_SIG_free)
#undef MXC_SSL_OWNER

// Throws mxc::Error "what: <first OpenSSL reason>" and clears the error queue.
[[noreturn]] void throw_ssl(const std::string &what) {
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

enum class Family { rsa, ec, eddsa };

struct Alg {
    std::string_view name;
    Family family;
    int sha;               // SHA-2 bits; 0: the algorithm hashes by itself (Ed25519)
    std::string_view crv;  // JWK crv for EC/OKP
    const char *group;     // OpenSSL group name for EC
    size_t coord;          // bytes per EC coordinate / Ed25519 key
};

const Alg kAlgs[] = {
    {"RS256", Family::rsa, 256, "", nullptr, 0},
    {"RS384", Family::rsa, 384, "", nullptr, 0},
    {"RS512", Family::rsa, 512, "", nullptr, 0},
    {"ES256", Family::ec, 256, "P-256", "prime256v1", 32},
    {"ES384", Family::ec, 384, "P-384", "secp384r1", 48},
    {"EdDSA", Family::eddsa, 0, "Ed25519", nullptr, 32},
};

const EVP_MD *digest_of(const Alg &alg) {
    switch (alg.sha) {
    case 256:
        return EVP_sha256();
    case 384:
        return EVP_sha384();
    case 512:
        return EVP_sha512();
    default:
        return nullptr;
    }
}

const Alg *find_alg(std::string_view name) {
    for (const auto &a : kAlgs)
        if (a.name == name)
            return &a;
    return nullptr;
}

std::string kid_label(const std::string &kid) { return kid.empty() ? std::string("(no kid)") : "kid=" + kid; }

json decode_part(std::string_view part, const char *what) {
    std::string raw;
    try {
        raw = base64url_decode(part);
    } catch (const Error &e) {
        throw Error(fmt::format("token: {}: {}", what, e.message()));
    }
    json j = json::parse(raw, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw Error(fmt::format("token: {} is not a JSON object", what));
    return j;
}

std::string jwk_string(const json &jwk, const char *field, const std::string &where) {
    auto it = jwk.find(field);
    if (it == jwk.end())
        throw Error(fmt::format("{}: missing .{}", where, field));
    if (!it->is_string())
        throw Error(fmt::format("{}: .{}: expected a string", where, field));
    return it->get<std::string>();
}

std::string jwk_bytes(const json &jwk, const char *field, const std::string &where) {
    std::string s = jwk_string(jwk, field, where);
    try {
        return base64url_decode(s);
    } catch (const Error &e) {
        throw Error(fmt::format("{}: .{}: {}", where, field, e.message()));
    }
}

BnPtr to_bn(const std::string &bytes) {
    BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
    if (!bn)
        throw_ssl("BN_bin2bn");
    return bn;
}

PkeyPtr key_from_params(const char *type, OSSL_PARAM_BLD *bld, const std::string &where) {
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
    if (!params)
        throw_ssl(where + ": build parameters");
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1)
        throw_ssl(where + ": " + type);
    EVP_PKEY *raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        throw_ssl(where + ": invalid " + type + " public key");
    return PkeyPtr(raw);
}

PkeyPtr rsa_key(const json &jwk, const std::string &where) {
    auto n = to_bn(jwk_bytes(jwk, "n", where));
    auto e = to_bn(jwk_bytes(jwk, "e", where));
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()))
        throw_ssl(where + ": RSA parameters");
    auto key = key_from_params("RSA", bld.get(), where);
    // RFC 7518 3.3: keys of 2048 bits or more.
    if (EVP_PKEY_get_bits(key.get()) < 2048)
        throw Error(fmt::format("{}: RSA key of {} bits is too small (2048 at least)", where,
                                EVP_PKEY_get_bits(key.get())));
    return key;
}

PkeyPtr ec_key(const json &jwk, const Alg &alg, const std::string &where) {
    std::string x = jwk_bytes(jwk, "x", where), y = jwk_bytes(jwk, "y", where);
    if (x.size() != alg.coord || y.size() != alg.coord)
        throw Error(fmt::format("{}: {} coordinates must be {} bytes", where, alg.crv, alg.coord));
    std::string point = "\x04" + x + y; // uncompressed SEC1 point
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, alg.group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
        throw_ssl(where + ": EC parameters");
    auto key = key_from_params("EC", bld.get(), where);
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1)
        throw_ssl(where + ": EC point is not on " + std::string(alg.crv));
    return key;
}

PkeyPtr ed25519_key(const json &jwk, const std::string &where) {
    std::string x = jwk_bytes(jwk, "x", where);
    if (x.size() != 32)
        throw Error(fmt::format("{}: Ed25519 x must be 32 bytes", where));
    PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                            reinterpret_cast<const unsigned char *>(x.data()), x.size()));
    if (!key)
        throw_ssl(where + ": invalid Ed25519 key");
    return key;
}

const json &find_key(const json &jwks, const std::string &kid) {
    if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array())
        throw Error("jwks: expected an object with a \"keys\" array");
    const json &keys = jwks["keys"];
    if (kid.empty()) {
        if (keys.size() != 1)
            throw Error(fmt::format("token: header has no kid and the JWKS has {} keys", keys.size()));
        if (!keys[0].is_object())
            throw Error("jwks: .keys[0]: expected an object");
        return keys[0];
    }
    for (const auto &k : keys)
        if (k.is_object() && k.contains("kid") && k["kid"].is_string() && k["kid"].get<std::string>() == kid)
            return k;
    throw Error(fmt::format("jwks: no key with kid \"{}\"", kid));
}

// The key for alg, refusing any key whose type does not fit the algorithm
// (the classic JWT confusion attacks).
PkeyPtr key_for(const json &jwk, const Alg &alg, const std::string &kid) {
    std::string where = "jwks: key " + kid_label(kid);
    std::string kty = jwk_string(jwk, "kty", where);
    if (jwk.contains("use") && jwk["use"] != "sig")
        throw Error(fmt::format("{} is not for signatures (use {})", where, jwk["use"].dump()));
    if (jwk.contains("alg") && jwk["alg"] != alg.name)
        throw Error(fmt::format("token: alg {} does not match key {} (alg {})", alg.name, kid_label(kid),
                                jwk["alg"].dump()));
    auto mismatch = [&](const std::string &what) {
        return Error(fmt::format("token: alg {} does not match key {} ({})", alg.name, kid_label(kid), what));
    };
    switch (alg.family) {
    case Family::rsa:
        if (kty != "RSA")
            throw mismatch("kty " + kty);
        return rsa_key(jwk, where);
    case Family::ec: {
        if (kty != "EC")
            throw mismatch("kty " + kty);
        std::string crv = jwk_string(jwk, "crv", where);
        if (crv != alg.crv)
            throw mismatch("crv " + crv);
        return ec_key(jwk, alg, where);
    }
    case Family::eddsa: {
        if (kty != "OKP")
            throw mismatch("kty " + kty);
        std::string crv = jwk_string(jwk, "crv", where);
        if (crv != alg.crv)
            throw mismatch("crv " + crv);
        return ed25519_key(jwk, where);
    }
    }
    throw Error("unreachable");
}

// JWS carries ECDSA signatures as raw r||s (RFC 7518 3.4); OpenSSL wants DER.
std::string ecdsa_der(const std::string &sig, const Alg &alg) {
    if (sig.size() != 2 * alg.coord)
        throw Error(fmt::format("token: {} signature must be {} bytes, got {}", alg.name, 2 * alg.coord, sig.size()));
    EcdsaSigPtr es(ECDSA_SIG_new());
    auto r = to_bn(sig.substr(0, alg.coord));
    auto s = to_bn(sig.substr(alg.coord));
    if (!es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1)
        throw_ssl("ECDSA_SIG_set0");
    r.release(); // owned by es now
    s.release();
    unsigned char *der = nullptr;
    int len = i2d_ECDSA_SIG(es.get(), &der);
    if (len <= 0)
        throw_ssl("encode ECDSA signature");
    std::string out(reinterpret_cast<char *>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    return out;
}

bool verify_signature(EVP_PKEY *key, const Alg &alg, std::string_view input, const std::string &sig) {
    std::string der = alg.family == Family::ec ? ecdsa_der(sig, alg) : sig;
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(alg), nullptr, key) != 1)
        throw_ssl("token: verify init");
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(der.data()), der.size(),
                              reinterpret_cast<const unsigned char *>(input.data()), input.size());
    ERR_clear_error();
    return rc == 1;
}

std::optional<int64_t> numeric_claim(const json &claims, const char *name) {
    auto it = claims.find(name);
    if (it == claims.end())
        return std::nullopt;
    if (!it->is_number())
        throw Error(fmt::format("token: claim {} is not a number", name));
    double v = it->get<double>();
    // Keep the conversion defined; a year-5000 timestamp is already absurd.
    if (!(v > -1e11 && v < 1e11))
        throw Error(fmt::format("token: claim {} is out of range", name));
    return static_cast<int64_t>(v);
}

std::string string_claim(const json &claims, const char *name) {
    auto it = claims.find(name);
    if (it == claims.end())
        return {};
    if (!it->is_string())
        throw Error(fmt::format("token: claim {} is not a string", name));
    return it->get<std::string>();
}

void check_claims(const json &claims, const TokenCheck &check) {
    auto exp = numeric_claim(claims, "exp");
    if (!exp)
        throw Error("token: no exp claim");
    if (check.now >= *exp)
        throw Error(fmt::format("token: expired at {}", rfc3339(*exp)));
    if (auto nbf = numeric_claim(claims, "nbf"); nbf && check.now < *nbf)
        throw Error(fmt::format("token: not valid before {}", rfc3339(*nbf)));
    if (check.issuer) {
        if (!claims.contains("iss"))
            throw Error(fmt::format("token: no iss claim (expected \"{}\")", *check.issuer));
        std::string iss = string_claim(claims, "iss");
        if (iss != *check.issuer)
            throw Error(fmt::format("token: iss \"{}\" is not \"{}\"", iss, *check.issuer));
    }
    if (check.audience) {
        auto it = claims.find("aud");
        if (it == claims.end())
            throw Error(fmt::format("token: no aud claim (expected \"{}\")", *check.audience));
        if (it->is_string()) {
            if (it->get<std::string>() != *check.audience)
                throw Error(fmt::format("token: aud \"{}\" is not \"{}\"", it->get<std::string>(), *check.audience));
        } else if (it->is_array()) {
            bool found = false;
            for (const auto &a : *it)
                found = found || (a.is_string() && a.get<std::string>() == *check.audience);
            if (!found)
                throw Error(fmt::format("token: aud {} does not include \"{}\"", it->dump(), *check.audience));
        } else {
            throw Error("token: claim aud is neither a string nor an array");
        }
    }
}

} // namespace

TokenClaims verify_token(std::string_view jwt, const json &jwks, const TokenCheck &check) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        size_t dot = jwt.find('.', start);
        parts.push_back(jwt.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos)
            break;
        start = dot + 1;
    }
    if (parts.size() != 3)
        throw Error(fmt::format("token: expected 3 dot-separated parts (a signed JWT), got {}", parts.size()));

    json header = decode_part(parts[0], "header");
    if (!header.contains("alg") || !header["alg"].is_string())
        throw Error("token: header has no alg");
    std::string alg_name = header["alg"].get<std::string>();
    if (alg_name == "none" || alg_name == "None" || alg_name == "NONE")
        throw Error("token: alg \"none\" is not allowed");
    const Alg *alg = find_alg(alg_name);
    if (!alg)
        throw Error(fmt::format("token: unsupported alg \"{}\"", alg_name));
    // RFC 7515 4.1.11: an extension we do not understand must fail the token.
    if (header.contains("crit"))
        throw Error(fmt::format("token: unsupported critical header {}", header["crit"].dump()));
    std::string kid;
    if (header.contains("kid")) {
        if (!header["kid"].is_string())
            throw Error("token: header kid is not a string");
        kid = header["kid"].get<std::string>();
    }

    auto key = key_for(find_key(jwks, kid), *alg, kid);
    std::string sig;
    try {
        sig = base64url_decode(parts[2]);
    } catch (const Error &e) {
        throw Error(fmt::format("token: signature: {}", e.message()));
    }
    std::string_view signing_input = jwt.substr(0, parts[0].size() + 1 + parts[1].size());
    if (!verify_signature(key.get(), *alg, signing_input, sig))
        throw Error(fmt::format("token: signature does not verify with key {}", kid_label(kid)));

    json claims = decode_part(parts[1], "payload");
    TokenCheck at = check;
    if (at.now == 0)
        at.now = now_seconds();
    check_claims(claims, at);

    TokenClaims out;
    out.iss = string_claim(claims, "iss");
    out.sub = string_claim(claims, "sub");
    out.tid = string_claim(claims, "tid");
    out.oid = string_claim(claims, "oid");
    out.exp = *numeric_claim(claims, "exp");
    out.alg = alg_name;
    out.kid = kid;
    return out;
}

} // namespace mxc::identity
