// Identities: who a sandbox runs as, for the audit stream and MXC_IDENTITY.
//
// A local identity is a name, a UUID, the owning uid, a creation time and an
// Ed25519 key pair.  A token identity adds the claims of an OIDC JWT that was
// verified offline against a JWKS file; it gets a key pair too, so that every
// identity can sign its audit checkpoints the same way.
//
// On disk: <store.dir>/<name>/{identity.json, key.pem, pub.pem}, directory
// 0700, files 0600, owned by the owner uid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mxc::identity {

struct IdentityStore {
    std::string dir; // the identities directory itself: .../mxc/identities
    uid_t uid = 0;   // the caller: owner of what it creates, checked on load
};

// $MXC_STATE_DIR/identities when set; root: /var/lib/mxc/identities;
// others: $XDG_DATA_HOME/mxc/identities (default ~/.local/share/mxc/identities).
// uid is geteuid().
IdentityStore default_store();

// [a-z0-9][a-z0-9_.-]{0,62}
bool valid_name(std::string_view name);

enum class Kind { local, token };

// What a verified token said, kept in identity.json.
struct TokenClaims {
    std::string iss, sub, tid, oid; // empty when the token had none
    int64_t exp = 0;                // seconds since the epoch
    std::string alg, kid;           // how it was verified
};

struct Identity {
    std::string name;
    std::string uuid;         // RFC 4122 version 4, lower case
    uid_t owner_uid = 0;
    std::string created;      // RFC 3339, UTC
    Kind kind = Kind::local;
    std::string public_key;   // PEM SubjectPublicKeyInfo (Ed25519)
    std::string fingerprint;  // SHA-256 of the DER public key, hex
    std::optional<TokenClaims> token;
};

// The public view (what `mxc identity show` prints): never the private key.
nlohmann::json to_json(const Identity &id);

Identity create(const IdentityStore &store, const std::string &name);

struct TokenOptions {
    std::string token_file;               // the JWT, compact form (whitespace around it is ignored)
    std::string jwks_file;                // {"keys": [...]}
    std::optional<std::string> issuer;    // iss must equal this when given
    std::optional<std::string> audience;  // aud (string or array) must hold this when given
};
// Verifies the token (see verify_token) at the current time, then creates the identity.
Identity create_from_token(const IdentityStore &store, const std::string &name, const TokenOptions &opts);

// The identities the store's uid owns, sorted by name.  Others are skipped.
std::vector<Identity> list(const IdentityStore &store);
// Throws `identity "x" belongs to uid N` unless both the owner_uid recorded in
// identity.json and the owner of the files are caller_uid.  check_key: pub.pem
// must match the fingerprint in identity.json.  Without it pub.pem is not read
// (public_key stays empty): for a caller that loads the identity again, with
// the check, before anything depends on its key (mxc run does that while the
// sandbox sets itself up, and starts nothing when it fails).
Identity load(const IdentityStore &store, const std::string &name, uid_t caller_uid, bool check_key = true);
// load() as store.uid.
Identity show(const IdentityStore &store, const std::string &name);
void remove(const IdentityStore &store, const std::string &name);

// The caller's default identity, created on first use: "default", or the
// user's login name when "default" in this store belongs to someone else.
// check_key: as for load() (a new identity is always complete).
Identity default_identity(const IdentityStore &store, uid_t uid, bool check_key = true);

// Ed25519 over the bytes with the identity's private key (64-byte signature).
std::string sign(const IdentityStore &store, const std::string &name, std::string_view data);
// The same, with the key read and checked once, now: for callers that sign
// again and again (audit checkpoints).  The key stays in memory.
std::function<std::string(std::string_view)> signing_key(const IdentityStore &store, const std::string &name);
// SHA-256 of the DER SubjectPublicKeyInfo of a PEM public key, lower-case hex
// (an Ed25519 key of the form mxc writes is read without OpenSSL's decoders,
// ~1 ms on their first use in a process); throws when it is not one.
std::string public_key_fingerprint(std::string_view public_key_pem);
// True when sig is a valid Ed25519 signature of data under the PEM public key.
// Throws only when the key cannot be read.
bool verify(const std::string &public_key_pem, std::string_view data, std::string_view sig);

// ---- OIDC JWT, verified offline ----------------------------------------------

struct TokenCheck {
    std::optional<std::string> issuer;
    std::optional<std::string> audience;
    int64_t now = 0; // seconds since the epoch; 0: the current time
};
// Verifies a compact JWS (RS256/384/512, ES256/384, EdDSA) against the JWKS
// document and checks exp, nbf, iss, aud.  Returns the claims.  Errors say
// what failed: "token: expired at 2026-01-01T00:00:00Z", "jwks: no key with kid \"k1\"".
TokenClaims verify_token(std::string_view jwt, const nlohmann::json &jwks, const TokenCheck &check);

// Helpers shared with the audit code and the tests.
std::string base64url_encode(std::string_view bytes);
std::string base64url_decode(std::string_view text); // throws on bad input
std::string rfc3339(int64_t seconds);                // UTC, "2026-01-02T03:04:05Z"

} // namespace mxc::identity
