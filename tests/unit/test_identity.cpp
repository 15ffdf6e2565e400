// identity: the local store (files, modes, ownership, signatures) and offline
// OIDC JWT verification against JWKS documents the test builds itself.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mxc/identity/identity.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;
using namespace mxc::identity;
using nlohmann::json;

namespace {

template <typename Fn>
std::string error_of(Fn &&fn) {
    try {
        fn();
    } catch (const Error &e) {
        return e.what();
    }
    return "";
}

bool has(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

mode_t mode_of(const std::string &path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0)
        return 0;
    return st.st_mode & 07777;
}

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/mxc-identity-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base = tmpl;
        store = IdentityStore{base + "/identities", ::geteuid()};
    }
    void TearDown() override { remove_tree(base); }
    std::string file(const std::string &name, const std::string &text) {
        std::string p = base + "/" + name;
        std::ofstream(p) << text;
        return p;
    }
    std::string base;
    IdentityStore store;
};

// ---------------------------------------------------------------- the store

TEST(IdentityName, Rules) {
    for (const char *ok : {"a", "alice", "0", "a.b-c_d", "agent-7"})
        EXPECT_TRUE(valid_name(ok)) << ok;
    for (const char *bad : {"", "Alice", ".hidden", "-x", "_x", "a/b", "a b", "..", "é"})
        EXPECT_FALSE(valid_name(bad)) << bad;
    EXPECT_TRUE(valid_name(std::string(63, 'a')));
    EXPECT_FALSE(valid_name(std::string(64, 'a')));
}

TEST(IdentityStore, DefaultStoreFollowsEnvironment) {
    ::setenv("MXC_STATE_DIR", "/tmp/mxc-state-x", 1);
    EXPECT_EQ(default_store().dir, "/tmp/mxc-state-x/identities");
    EXPECT_EQ(default_store().uid, ::geteuid());
    ::unsetenv("MXC_STATE_DIR");
    if (::geteuid() == 0) {
        EXPECT_EQ(default_store().dir, "/var/lib/mxc/identities");
    } else {
        ::setenv("XDG_DATA_HOME", "/tmp/xdg", 1);
        EXPECT_EQ(default_store().dir, "/tmp/xdg/mxc/identities");
        ::unsetenv("XDG_DATA_HOME");
        ::setenv("HOME", "/tmp/home-x", 1);
        EXPECT_EQ(default_store().dir, "/tmp/home-x/.local/share/mxc/identities");
    }
}

TEST_F(StoreTest, CreateListShowDelete) {
    EXPECT_TRUE(list(store).empty()); // no store directory yet
    Identity a = create(store, "alice");
    Identity b = create(store, "bob");
    EXPECT_EQ(a.name, "alice");
    EXPECT_EQ(a.owner_uid, store.uid);
    EXPECT_EQ(a.kind, Kind::local);
    EXPECT_TRUE(std::regex_match(a.created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << a.created;
    EXPECT_TRUE(std::regex_match(a.fingerprint, std::regex("[0-9a-f]{64}"))) << a.fingerprint;
    EXPECT_NE(a.fingerprint, b.fingerprint);

    auto all = list(store);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "alice");
    EXPECT_EQ(all[1].name, "bob");
    EXPECT_EQ(all[0].uuid, a.uuid);

    json j = to_json(show(store, "alice"));
    EXPECT_EQ(j["name"], "alice");
    EXPECT_EQ(j["uuid"], a.uuid);
    EXPECT_EQ(j["kind"], "local");
    EXPECT_EQ(j["owner_uid"], store.uid);
    EXPECT_EQ(j["created"], a.created);
    EXPECT_EQ(j["fingerprint"], a.fingerprint);
    EXPECT_TRUE(has(j["public_key"], "-----BEGIN PUBLIC KEY-----"));
    EXPECT_FALSE(has(j.dump(), "PRIVATE"));
    EXPECT_FALSE(j.contains("token"));

    EXPECT_EQ(error_of([&] { create(store, "alice"); }), "identity \"alice\" already exists");
    EXPECT_TRUE(has(error_of([&] { create(store, "Bad/Name"); }), "identity name \"Bad/Name\" is invalid"));

    remove(store, "alice");
    EXPECT_FALSE(path_exists(store.dir + "/alice"));
    ASSERT_EQ(list(store).size(), 1u);
    EXPECT_EQ(error_of([&] { show(store, "alice"); }), "identity \"alice\" not found in " + store.dir);
    EXPECT_TRUE(has(error_of([&] { remove(store, "alice"); }), "not found"));
}

TEST_F(StoreTest, FileModesAndLayout) {
    ::umask(022);
    create(store, "alice");
    std::string d = store.dir + "/alice";
    EXPECT_EQ(mode_of(store.dir), 0700u);
    EXPECT_EQ(mode_of(d), 0700u);
    for (const char *f : {"identity.json", "key.pem", "pub.pem"})
        EXPECT_EQ(mode_of(d + "/" + f), 0600u) << f;
    EXPECT_TRUE(has(read_file(d + "/key.pem"), "-----BEGIN PRIVATE KEY-----")); // PKCS#8
    EXPECT_TRUE(has(read_file(d + "/pub.pem"), "-----BEGIN PUBLIC KEY-----"));
    json info = json::parse(read_file(d + "/identity.json"));
    EXPECT_FALSE(info.contains("public_key"));
    EXPECT_EQ(info["owner_uid"], store.uid);
    // No half-made directories are left behind.
    std::vector<std::string> entries;
    for (const auto &e : std::filesystem::directory_iterator(store.dir))
        entries.push_back(e.path().filename());
    EXPECT_EQ(entries, std::vector<std::string>{"alice"});
}

TEST_F(StoreTest, UuidIsVersion4) {
    std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    std::string prev;
    for (const char *n : {"u1", "u2", "u3"}) {
        Identity i = create(store, n);
        EXPECT_TRUE(std::regex_match(i.uuid, v4)) << i.uuid;
        EXPECT_NE(i.uuid, prev);
        prev = i.uuid;
    }
}

TEST_F(StoreTest, SignAndVerify) {
    Identity a = create(store, "alice");
    Identity b = create(store, "bob");
    std::string msg = "checkpoint 42: sha256=abcdef";
    std::string sig = sign(store, "alice", msg);
    EXPECT_EQ(sig.size(), 64u);
    EXPECT_TRUE(verify(a.public_key, msg, sig));

    std::string flipped = sig;
    flipped[10] = static_cast<char>(flipped[10] ^ 0x01);
    EXPECT_FALSE(verify(a.public_key, msg, flipped));
    std::string other = msg;
    other[0] = static_cast<char>(other[0] ^ 0x01);
    EXPECT_FALSE(verify(a.public_key, other, sig));
    EXPECT_FALSE(verify(b.public_key, msg, sig));
    EXPECT_FALSE(verify(a.public_key, msg, sig.substr(0, 63)));

    // A private key that others can read is not used.
    ASSERT_EQ(::chmod((store.dir + "/alice/key.pem").c_str(), 0644), 0);
    EXPECT_TRUE(has(error_of([&] { sign(store, "alice", msg); }), "key.pem is accessible to others (mode 0644)"));
}

// The fingerprint is the SHA-256 of the DER SubjectPublicKeyInfo, whichever
// way the PEM is read: mxc reads the keys it writes without OpenSSL's PEM
// decoders, and hands any other layout of the same key to them.
TEST_F(StoreTest, KeysReadTheSameInEveryPemLayout) {
    Identity a = create(store, "alice");
    std::string pub = read_file(store.dir + "/alice/pub.pem");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pub.data(), static_cast<int>(pub.size())), BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                            EVP_PKEY_free);
    ASSERT_TRUE(key);
    unsigned char *der = nullptr;
    int len = i2d_PUBKEY(key.get(), &der);
    ASSERT_EQ(len, 44);
    unsigned char md[32];
    unsigned mdlen = 0;
    ASSERT_EQ(EVP_Digest(der, static_cast<size_t>(len), md, &mdlen, EVP_sha256(), nullptr), 1);
    OPENSSL_free(der);
    std::string hex;
    for (unsigned i = 0; i < mdlen; ++i)
        hex += fmt::format("{:02x}", md[i]);
    EXPECT_EQ(a.fingerprint, hex);

    std::string msg = "checkpoint";
    std::string sig = sign(store, "alice", msg);
    // mxc's keys and signatures (libsodium) are what OpenSSL reads and
    // checks: streams signed by either verify with the other.
    {
        std::string priv = read_file(store.dir + "/alice/key.pem");
        std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(priv.data(), static_cast<int>(priv.size())),
                                                     BIO_free);
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> sk(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                               EVP_PKEY_free);
        ASSERT_TRUE(sk);
        EXPECT_EQ(EVP_PKEY_eq(sk.get(), key.get()), 1) << "key.pem and pub.pem are one key pair";
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()), 1);
        EXPECT_EQ(EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(sig.data()), sig.size(),
                                   reinterpret_cast<const unsigned char *>(msg.data()), msg.size()),
                  1);
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        ASSERT_EQ(EVP_DigestSignInit(sctx.get(), nullptr, nullptr, nullptr, sk.get()), 1);
        std::string other(64, '\0');
        size_t olen = other.size();
        ASSERT_EQ(EVP_DigestSign(sctx.get(), reinterpret_cast<unsigned char *>(other.data()), &olen,
                                 reinterpret_cast<const unsigned char *>(msg.data()), msg.size()),
                  1);
        EXPECT_EQ(other, sig) << "OpenSSL's Ed25519 signature differs from mxc's";
        EXPECT_TRUE(verify(pub, msg + "x", sig) == false);
    }
    // CRLF line ends and text around the blocks: OpenSSL's decoders read these.
    auto crlf = [](std::string t) {
        std::string out = "comment line\r\n";
        for (char c : t)
            out += c == '\n' ? std::string("\r\n") : std::string(1, c);
        return out;
    };
    std::string key_pem = read_file(store.dir + "/alice/key.pem");
    write_file(store.dir + "/alice/pub.pem", crlf(pub));
    write_file(store.dir + "/alice/key.pem", crlf(key_pem));
    EXPECT_EQ(show(store, "alice").fingerprint, a.fingerprint);
    EXPECT_EQ(sign(store, "alice", msg), sig); // Ed25519 signatures are deterministic
    EXPECT_TRUE(verify(crlf(pub), msg, sig));

    // Another key in pub.pem, in the plain layout: refused.
    create(store, "bob");
    write_file(store.dir + "/alice/pub.pem", read_file(store.dir + "/bob/pub.pem"));
    EXPECT_TRUE(has(error_of([&] { show(store, "alice"); }), "does not match the fingerprint"));
    // Unless the caller defers the check (and loads it checked later).
    Identity unchecked = load(store, "alice", store.uid, false);
    EXPECT_EQ(unchecked.uuid, a.uuid);
    EXPECT_TRUE(unchecked.public_key.empty());
    // A damaged one: an error, not a key.
    std::string bad = pub;
    bad[30] = '*';
    write_file(store.dir + "/alice/pub.pem", bad);
    EXPECT_TRUE(has(error_of([&] { show(store, "alice"); }), "pub.pem"));
}

TEST_F(StoreTest, AnotherUsersIdentityIsRefused) {
    create(store, "bob");
    std::string info = store.dir + "/bob/identity.json";
    json j = json::parse(read_file(info));
    uid_t other = store.uid + 1000;
    j["owner_uid"] = other;
    write_file(info, j.dump());

    std::string want = "identity \"bob\" belongs to uid " + std::to_string(other);
    EXPECT_EQ(error_of([&] { load(store, "bob", store.uid); }), want);
    EXPECT_TRUE(has(error_of([&] { sign(store, "bob", "x"); }), want));
    EXPECT_TRUE(has(error_of([&] { remove(store, "bob"); }), want));
    EXPECT_TRUE(list(store).empty());
    // The caller named in the file is still refused: the files are not theirs.
    EXPECT_EQ(error_of([&] { load(store, "bob", other); }), "identity \"bob\" belongs to uid " + std::to_string(store.uid));
}

TEST_F(StoreTest, ForeignFileOwnerIsRefused) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to chown the identity to another uid";
    create(store, "carol");
    std::string d = store.dir + "/carol";
    ASSERT_EQ(::chown(d.c_str(), 65534, static_cast<gid_t>(-1)), 0);
    EXPECT_EQ(error_of([&] { load(store, "carol", store.uid); }), "identity \"carol\" belongs to uid 65534");
    EXPECT_TRUE(has(error_of([&] { remove(store, "carol"); }), "belongs to uid 65534"));
    EXPECT_TRUE(path_exists(d));
    // Directory ours again, but one file is not.
    ASSERT_EQ(::chown(d.c_str(), store.uid, static_cast<gid_t>(-1)), 0);
    ASSERT_EQ(::chown((d + "/key.pem").c_str(), 65534, static_cast<gid_t>(-1)), 0);
    EXPECT_TRUE(has(error_of([&] { sign(store, "carol", "x"); }), "belongs to uid 65534"));
}

TEST_F(StoreTest, DefaultIdentityIsMadeOnce) {
    Identity first = default_identity(store, store.uid);
    EXPECT_EQ(first.name, "default");
    Identity again = default_identity(store, store.uid);
    EXPECT_EQ(again.uuid, first.uuid);
    EXPECT_EQ(list(store).size(), 1u);
    if (::geteuid() != 0)
        return;
    // In a shared store where "default" is someone else's, the caller gets
    // one under their login name instead of being refused.
    ASSERT_EQ(::chown((store.dir + "/default").c_str(), 65534, static_cast<gid_t>(-1)), 0);
    Identity mine = default_identity(store, 0);
    EXPECT_EQ(mine.name, "root");
    EXPECT_NE(mine.uuid, first.uuid);
    EXPECT_EQ(default_identity(store, 0).uuid, mine.uuid);
}

TEST_F(StoreTest, Base64Url) {
    for (const std::string &s : std::initializer_list<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xfb\xff\xfe", 3)})
        EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
    EXPECT_EQ(base64url_encode(std::string("\xfb\xff\xfe", 3)), "-__-");
    EXPECT_THROW(base64url_decode("ab=="), Error);
    EXPECT_THROW(base64url_decode("a+b/"), Error);
    EXPECT_THROW(base64url_decode("abcde"), Error);
}

// ---------------------------------------------------------------- JWT

struct PkeyFree {
    void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The test's own encoder, so that a bug in the library's cannot hide itself.
std::string b64url(const std::string &bytes) {
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

std::string bn_param(EVP_PKEY *k, const char *name, int pad = 0) {
    BIGNUM *bn = nullptr;
    if (EVP_PKEY_get_bn_param(k, name, &bn) != 1)
        throw std::runtime_error(name);
    std::string out(pad ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn)), '\0');
    if (pad)
        BN_bn2binpad(bn, reinterpret_cast<unsigned char *>(out.data()), pad);
    else
        BN_bn2bin(bn, reinterpret_cast<unsigned char *>(out.data()));
    BN_free(bn);
    return out;
}

std::string evp_sign(EVP_PKEY *key, const EVP_MD *md, const std::string &data) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = 0;
    const auto *in = reinterpret_cast<const unsigned char *>(data.data());
    if (EVP_DigestSignInit(ctx, nullptr, md, nullptr, key) != 1 ||
        EVP_DigestSign(ctx, nullptr, &len, in, data.size()) != 1)
        throw std::runtime_error("sign init");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char *>(sig.data()), &len, in, data.size()) != 1)
        throw std::runtime_error("sign");
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
}

// DER ECDSA-Sig-Value -> raw r||s as JWS wants it.
std::string der_to_raw(const std::string &der, int coord) {
    const auto *p = reinterpret_cast<const unsigned char *>(der.data());
    ECDSA_SIG *sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    const BIGNUM *r = nullptr, *s = nullptr;
    ECDSA_SIG_get0(sig, &r, &s);
    std::string out(2 * static_cast<size_t>(coord), '\0');
    BN_bn2binpad(r, reinterpret_cast<unsigned char *>(out.data()), coord);
    BN_bn2binpad(s, reinterpret_cast<unsigned char *>(out.data()) + coord, coord);
    ECDSA_SIG_free(sig);
    return out;
}

class JwtTest : public StoreTest {
protected:
    static void SetUpTestSuite() {
        rsa.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
        ec.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        ec384.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
        ed.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
        ASSERT_TRUE(rsa && ec && ec384 && ed);
        std::string raw(32, '\0');
        size_t len = raw.size();
        ASSERT_EQ(EVP_PKEY_get_raw_public_key(ed.get(), reinterpret_cast<unsigned char *>(raw.data()), &len), 1);
        jwks = {{"keys",
                 {{{"kty", "RSA"}, {"kid", "rsa1"}, {"use", "sig"},
                   {"n", b64url(bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_N))},
                   {"e", b64url(bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_E))}},
                  {{"kty", "EC"}, {"kid", "ec1"}, {"crv", "P-256"},
                   {"x", b64url(bn_param(ec.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32))},
                   {"y", b64url(bn_param(ec.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))}},
                  {{"kty", "EC"}, {"kid", "ec2"}, {"crv", "P-384"},
                   {"x", b64url(bn_param(ec384.get(), OSSL_PKEY_PARAM_EC_PUB_X, 48))},
                   {"y", b64url(bn_param(ec384.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 48))}},
                  {{"kty", "OKP"}, {"kid", "ed1"}, {"crv", "Ed25519"}, {"x", b64url(raw)}}}}};
    }
    static void TearDownTestSuite() {
        rsa.reset();
        ec.reset();
        ec384.reset();
        ed.reset();
    }

    static EVP_PKEY *key_for(const std::string &alg) {
        if (alg.rfind("RS", 0) == 0)
            return rsa.get();
        if (alg == "ES256")
            return ec.get();
        if (alg == "ES384")
            return ec384.get();
        return ed.get();
    }
    static const EVP_MD *md_for(const std::string &alg) {
        if (alg == "RS384")
            return EVP_sha384();
        if (alg == "RS512")
            return EVP_sha512();
        if (alg == "ES384")
            return EVP_sha384();
        if (alg == "EdDSA")
            return nullptr;
        return EVP_sha256();
    }

    // A signed JWT; `signer` names the algorithm actually used to sign
    // (defaults to the header's), so that mismatches can be built.
    static std::string token(const std::string &alg, const std::string &kid, const json &claims,
                             std::string signer = "") {
        if (signer.empty())
            signer = alg;
        json header = {{"alg", alg}, {"typ", "JWT"}};
        if (!kid.empty())
            header["kid"] = kid;
        std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
        std::string sig = evp_sign(key_for(signer), md_for(signer), input);
        if (signer == "ES256" || signer == "ES384")
            sig = der_to_raw(sig, signer == "ES256" ? 32 : 48);
        return input + "." + b64url(sig);
    }

    static json claims(int64_t exp_in = 3600) {
        return {{"iss", "https://login.example.com/tenant/v2.0"},
                {"sub", "agent-subject"},
                {"aud", "api://mxc"},
                {"tid", "tenant-1"},
                {"oid", "object-1"},
                {"iat", now - 10},
                {"exp", now + exp_in}};
    }
    static TokenCheck check() {
        TokenCheck c;
        c.issuer = "https://login.example.com/tenant/v2.0";
        c.audience = "api://mxc";
        c.now = now;
        return c;
    }
    std::string verify_error(const std::string &jwt, const TokenCheck &c = check()) {
        return error_of([&] { verify_token(jwt, jwks, c); });
    }

    static inline Pkey rsa, ec, ec384, ed;
    static inline json jwks;
    static constexpr int64_t now = 1767225600; // 2026-01-01T00:00:00Z
};

TEST_F(JwtTest, ValidTokensAreAccepted) {
    using Case = std::pair<const char *, const char *>;
    for (auto [alg, kid] : std::initializer_list<Case>{{"RS256", "rsa1"}, {"RS384", "rsa1"}, {"RS512", "rsa1"},
                                                      {"ES256", "ec1"}, {"ES384", "ec2"},
                                                      {"EdDSA", "ed1"}}) {
        SCOPED_TRACE(alg);
        TokenClaims c;
        ASSERT_NO_THROW(c = verify_token(token(alg, kid, claims()), jwks, check()));
        EXPECT_EQ(c.iss, "https://login.example.com/tenant/v2.0");
        EXPECT_EQ(c.sub, "agent-subject");
        EXPECT_EQ(c.tid, "tenant-1");
        EXPECT_EQ(c.oid, "object-1");
        EXPECT_EQ(c.exp, now + 3600);
        EXPECT_EQ(c.alg, alg);
        EXPECT_EQ(c.kid, kid);
    }
    // aud as an array; iss/aud unchecked when not asked for.
    json cl = claims();
    cl["aud"] = {"other", "api://mxc"};
    EXPECT_NO_THROW(verify_token(token("RS256", "rsa1", cl), jwks, check()));
    TokenCheck loose;
    loose.now = now;
    cl["iss"] = "https://elsewhere";
    EXPECT_NO_THROW(verify_token(token("RS256", "rsa1", cl), jwks, loose));
}

TEST_F(JwtTest, TimeClaims) {
    EXPECT_EQ(verify_error(token("RS256", "rsa1", claims(-60))), "token: expired at 2025-12-31T23:59:00Z");
    EXPECT_EQ(verify_error(token("RS256", "rsa1", claims(0))), "token: expired at 2026-01-01T00:00:00Z");
    json cl = claims();
    cl["nbf"] = now + 120;
    EXPECT_EQ(verify_error(token("ES256", "ec1", cl)), "token: not valid before 2026-01-01T00:02:00Z");
    cl = claims();
    cl.erase("exp");
    EXPECT_EQ(verify_error(token("ES256", "ec1", cl)), "token: no exp claim");
}

TEST_F(JwtTest, IssuerAndAudience) {
    json cl = claims();
    cl["aud"] = "api://other";
    EXPECT_EQ(verify_error(token("RS256", "rsa1", cl)), "token: aud \"api://other\" is not \"api://mxc\"");
    cl["aud"] = {"a", "b"};
    EXPECT_EQ(verify_error(token("RS256", "rsa1", cl)), "token: aud [\"a\",\"b\"] does not include \"api://mxc\"");
    cl.erase("aud");
    EXPECT_EQ(verify_error(token("RS256", "rsa1", cl)), "token: no aud claim (expected \"api://mxc\")");
    cl = claims();
    cl["iss"] = "https://evil.example.com";
    EXPECT_EQ(verify_error(token("EdDSA", "ed1", cl)),
              "token: iss \"https://evil.example.com\" is not \"https://login.example.com/tenant/v2.0\"");
}

TEST_F(JwtTest, BadSignatures) {
    using Case = std::pair<const char *, const char *>;
    for (auto [alg, kid] : std::initializer_list<Case>{{"RS256", "rsa1"}, {"ES256", "ec1"}, {"EdDSA", "ed1"}}) {
        SCOPED_TRACE(alg);
        std::string jwt = token(alg, kid, claims());
        size_t dot = jwt.rfind('.');
        std::string sig = base64url_decode(jwt.substr(dot + 1));
        sig[5] = static_cast<char>(sig[5] ^ 0x01);
        std::string want = std::string("token: signature does not verify with key kid=") + kid;
        EXPECT_EQ(verify_error(jwt.substr(0, dot + 1) + b64url(sig)), want);
        // Claims changed after signing.
        json cl = claims();
        cl["sub"] = "someone-else";
        std::string forged = token(alg, kid, cl);
        size_t d1 = jwt.find('.'), d2 = forged.find('.');
        std::string spliced = jwt.substr(0, d1) + forged.substr(d2, forged.rfind('.') - d2) + jwt.substr(dot);
        EXPECT_EQ(verify_error(spliced), want);
    }
    // Signed by the EC key, presented as EdDSA under the Ed25519 kid.
    EXPECT_EQ(verify_error(token("EdDSA", "ed1", claims(), "ES256")),
              "token: signature does not verify with key kid=ed1");
    // A DER ECDSA signature is not the JWS form.
    std::string jwt = token("ES256", "ec1", claims());
    std::string input = jwt.substr(0, jwt.rfind('.'));
    std::string der = evp_sign(ec.get(), EVP_sha256(), input);
    EXPECT_TRUE(has(verify_error(input + "." + b64url(der)), "token: ES256 signature must be 64 bytes"));
}

TEST_F(JwtTest, KeysAndAlgorithms) {
    EXPECT_EQ(verify_error(token("RS256", "k1", claims())), "jwks: no key with kid \"k1\"");
    // No kid with several keys in the set.
    EXPECT_EQ(verify_error(token("RS256", "", claims())), "token: header has no kid and the JWKS has 4 keys");

    // alg none, unsigned.
    json none = {{"alg", "none"}, {"typ", "JWT"}};
    std::string unsigned_jwt = b64url(none.dump()) + "." + b64url(claims().dump()) + ".";
    EXPECT_EQ(verify_error(unsigned_jwt), "token: alg \"none\" is not allowed");
    // HS256 with the RSA modulus as the "secret" is the classic confusion.
    json hs = {{"alg", "HS256"}, {"kid", "rsa1"}};
    EXPECT_EQ(verify_error(b64url(hs.dump()) + "." + b64url(claims().dump()) + ".AAAA"),
              "token: unsupported alg \"HS256\"");

    // alg / key type mismatches.
    EXPECT_EQ(verify_error(token("RS256", "ec1", claims(), "ES256")), "token: alg RS256 does not match key kid=ec1 (kty EC)");
    EXPECT_EQ(verify_error(token("ES256", "rsa1", claims(), "RS256")), "token: alg ES256 does not match key kid=rsa1 (kty RSA)");
    EXPECT_EQ(verify_error(token("EdDSA", "rsa1", claims(), "RS256")), "token: alg EdDSA does not match key kid=rsa1 (kty RSA)");
    EXPECT_EQ(verify_error(token("ES384", "ec1", claims(), "ES256")), "token: alg ES384 does not match key kid=ec1 (crv P-256)");
    EXPECT_EQ(verify_error(token("ES256", "ec2", claims(), "ES384")), "token: alg ES256 does not match key kid=ec2 (crv P-384)");
    // A point that is not on the curve, and an RSA key too small to trust.
    json bad = jwks;
    std::string x = base64url_decode(bad["keys"][1]["x"].get<std::string>());
    x[31] = static_cast<char>(x[31] ^ 0x01);
    bad["keys"][1]["x"] = b64url(x);
    EXPECT_TRUE(has(error_of([&] { verify_token(token("ES256", "ec1", claims()), bad, check()); }),
                    "jwks: key kid=ec1: "));
    Pkey small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
    json weak = jwks;
    weak["keys"][0]["n"] = b64url(bn_param(small.get(), OSSL_PKEY_PARAM_RSA_N));
    EXPECT_EQ(error_of([&] { verify_token(token("RS256", "rsa1", claims()), weak, check()); }),
              "jwks: key kid=rsa1: RSA key of 1024 bits is too small (2048 at least)");
    // A key pinned to one algorithm by its "alg" member.
    json pinned = jwks;
    pinned["keys"][0]["alg"] = "RS512";
    EXPECT_EQ(error_of([&] { verify_token(token("RS256", "rsa1", claims()), pinned, check()); }),
              "token: alg RS256 does not match key kid=rsa1 (alg \"RS512\")");
    json enc = jwks;
    enc["keys"][0]["use"] = "enc";
    EXPECT_EQ(error_of([&] { verify_token(token("RS256", "rsa1", claims()), enc, check()); }),
              "jwks: key kid=rsa1 is not for signatures (use \"enc\")");

    // Shapes.
    EXPECT_EQ(verify_error("abc.def"), "token: expected 3 dot-separated parts (a signed JWT), got 2");
    EXPECT_TRUE(has(verify_error("a.b.c.d.e"), "got 5"));
    EXPECT_TRUE(has(verify_error("!!.e30.AA"), "token: header: invalid base64url"));
    EXPECT_EQ(error_of([&] { verify_token(token("RS256", "rsa1", claims()), json::object(), check()); }),
              "jwks: expected an object with a \"keys\" array");
}

TEST_F(JwtTest, TokenIdentity) {
    // Real time: these tokens are made for the current clock.
    int64_t t = ::time(nullptr);
    json cl = claims();
    cl["exp"] = t + 3600;
    cl["iat"] = t;
    std::string tok = file("token.jwt", token("ES256", "ec1", cl) + "\n");
    std::string keys = file("jwks.json", jwks.dump());

    TokenOptions opts{tok, keys, std::string("https://login.example.com/tenant/v2.0"), std::string("api://mxc")};
    Identity id = create_from_token(store, "agent", opts);
    EXPECT_EQ(id.kind, Kind::token);
    Identity back = show(store, "agent");
    ASSERT_TRUE(back.token);
    EXPECT_EQ(back.token->iss, "https://login.example.com/tenant/v2.0");
    EXPECT_EQ(back.token->sub, "agent-subject");
    EXPECT_EQ(back.token->tid, "tenant-1");
    EXPECT_EQ(back.token->oid, "object-1");
    EXPECT_EQ(back.token->exp, t + 3600);
    EXPECT_EQ(back.token->kid, "ec1");
    json j = to_json(back);
    EXPECT_EQ(j["kind"], "token");
    EXPECT_EQ(j["token"]["sub"], "agent-subject");
    EXPECT_EQ(j["token"]["expires"], rfc3339(t + 3600));
    EXPECT_EQ(mode_of(store.dir + "/agent/identity.json"), 0600u);
    EXPECT_FALSE(has(read_file(store.dir + "/agent/identity.json"), tok)); // claims kept, not the token
    // A token identity signs like a local one.
    EXPECT_TRUE(verify(back.public_key, "x", sign(store, "agent", "x")));

    // A refused token leaves nothing behind.
    opts.audience = "api://other";
    EXPECT_EQ(error_of([&] { create_from_token(store, "agent2", opts); }),
              "token: aud \"api://mxc\" is not \"api://other\"");
    EXPECT_FALSE(path_exists(store.dir + "/agent2"));
    EXPECT_EQ(list(store).size(), 1u);
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(store.dir), {}), 1);
}

} // namespace
