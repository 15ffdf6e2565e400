#pragma once

namespace mxc::daemon {

// Make every SHA-256 of this process (the streams' hash chains) OpenSSL's.
// Call once at start-up, before any thread.
void use_openssl_sha256();

} // namespace mxc::daemon
