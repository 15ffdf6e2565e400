// Helpers shared by the identity sources: Ed25519 keys in PEM (RFC 8410).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mxc::identity::detail {

std::string private_key_pem(std::string_view seed);      // PKCS#8
std::string public_key_pem(std::string_view public_key); // SubjectPublicKeyInfo
// The 32-byte seed / public key; throws for any other PEM (mxc's keys are
// Ed25519 only).
std::string read_private_key_pem(std::string_view pem);
std::string read_public_key_pem(std::string_view pem);
// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
std::string fingerprint(std::string_view public_key);
// The same, of a public key in PEM; throws when it is not one.
std::string public_key_fingerprint(std::string_view pem);
std::string uuid_v4();
int64_t now_seconds();

} // namespace mxc::identity::detail
