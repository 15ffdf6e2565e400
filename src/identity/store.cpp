// The identity store: one directory per identity, owned by its user.
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "internal.hpp"
#include "mxc/util/user.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

namespace mxc::identity {

using namespace detail;
using nlohmann::json;

namespace {

constexpr const char *kInfoFile = "identity.json";
constexpr const char *kKeyFile = "key.pem";
constexpr const char *kPubFile = "pub.pem";

void check_name(const std::string &name) {
    if (!valid_name(name))
        throw Error(fmt::format("identity name \"{}\" is invalid (use [a-z0-9][a-z0-9_.-]{{0,62}})", name));
}

std::string home_of(uid_t uid) {
    const char *home = std::getenv("HOME");
    if (home && home[0] == '/')
        return home;
    auto u = user_entry(uid);
    if (!u || u->home.empty() || u->home[0] != '/')
        throw Error(fmt::format("no home directory for uid {}: set HOME, XDG_DATA_HOME or MXC_STATE_DIR", uid));
    return u->home;
}

[[noreturn]] void throw_foreign(const std::string &name, uid_t owner) {
    throw Error(fmt::format("identity \"{}\" belongs to uid {}", name, owner));
}

// Reads a file of an identity without following symlinks; the file must be
// owned by the caller, like the directory.
std::string read_owned(int dirfd, const char *file, const std::string &name, uid_t caller, mode_t *mode = nullptr) {
    UniqueFd fd(::openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
        throw_errno("identity \"{}\": open {}", name, file);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        throw_errno("identity \"{}\": stat {}", name, file);
    if (!S_ISREG(st.st_mode))
        throw Error(fmt::format("identity \"{}\": {} is not a regular file", name, file));
    if (st.st_uid != caller)
        throw_foreign(name, st.st_uid);
    if (mode)
        *mode = st.st_mode & 07777;
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("identity \"{}\": read {}", name, file);
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    crypto::wipe(buf, sizeof buf);
    return out;
}

// Opens the identity directory after checking who owns it.
UniqueFd open_identity_dir(const IdentityStore &store, const std::string &name, uid_t caller) {
    check_name(name);
    std::string path = store.dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) {
        if (errno == ENOENT)
            throw Error(fmt::format("identity \"{}\" not found in {}", name, store.dir));
        throw_errno("identity \"{}\": stat {}", name, path);
    }
    if (!S_ISDIR(st.st_mode))
        throw Error(fmt::format("identity \"{}\": {} is not a directory", name, path));
    if (st.st_uid != caller)
        throw_foreign(name, st.st_uid);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
        throw_errno("identity \"{}\": open {}", name, path);
    // The entry could have been swapped between lstat and open.
    if (::fstat(fd.get(), &st) < 0)
        throw_errno("identity \"{}\": stat {}", name, path);
    if (st.st_uid != caller)
        throw_foreign(name, st.st_uid);
    return fd;
}

const json &field(const json &j, const char *key, bool (json::*is)() const noexcept, const char *type) {
    auto it = j.find(key);
    if (it == j.end())
        throw Error(fmt::format(".{}: missing", key));
    if (!((*it).*is)())
        throw Error(fmt::format(".{}: expected {}", key, type));
    return *it;
}

std::string str_field(const json &j, const char *key) {
    return field(j, key, &json::is_string, "a string").get<std::string>();
}

std::string opt_str(const json &j, const char *key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Identity from_json(const json &j) {
    if (!j.is_object())
        throw Error("expected an object");
    Identity id;
    id.name = str_field(j, "name");
    id.uuid = str_field(j, "uuid");
    id.owner_uid = field(j, "owner_uid", &json::is_number_unsigned, "a uid").get<uid_t>();
    id.created = str_field(j, "created");
    id.fingerprint = str_field(j, "fingerprint");
    std::string kind = str_field(j, "kind");
    if (kind == "local") {
        id.kind = Kind::local;
    } else if (kind == "token") {
        id.kind = Kind::token;
        const json &t = field(j, "token", &json::is_object, "an object");
        TokenClaims c;
        c.iss = opt_str(t, "iss");
        c.sub = opt_str(t, "sub");
        c.tid = opt_str(t, "tid");
        c.oid = opt_str(t, "oid");
        c.alg = opt_str(t, "alg");
        c.kid = opt_str(t, "kid");
        try {
            c.exp = field(t, "exp", &json::is_number_integer, "a number").get<int64_t>();
        } catch (Error &e) {
            e.add_context(".token");
            throw;
        }
        id.token = c;
    } else {
        throw Error(fmt::format(".kind: unknown kind \"{}\"", kind));
    }
    return id;
}

json stored_json(const Identity &id) {
    json j = to_json(id);
    j.erase("public_key"); // pub.pem holds it
    j["version"] = 1;
    return j;
}

void write_new(int dirfd, const char *file, std::string_view data, uid_t owner) {
    UniqueFd fd(::openat(dirfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd)
        throw_errno("create {}", file);
    // The umask could only have made it stricter, but say exactly what we mean.
    if (::fchmod(fd.get(), 0600) < 0)
        throw_errno("chmod {}", file);
    if (::geteuid() == 0 && owner != 0 && ::fchown(fd.get(), owner, static_cast<gid_t>(-1)) < 0)
        throw_errno("chown {}", file);
    with_context(fmt::format("write {}", file), [&] { write_all(fd.get(), data); });
    if (::fsync(fd.get()) < 0)
        throw_errno("fsync {}", file);
}

void ensure_store_dir(const IdentityStore &store) {
    with_context(fmt::format("identity store {}", store.dir), [&] {
        mkdir_p(store.dir, 0700);
        struct stat st {};
        if (::stat(store.dir.c_str(), &st) < 0)
            throw_errno("stat");
        if (st.st_uid == ::geteuid() && (st.st_mode & 077) != 0 && ::chmod(store.dir.c_str(), 0700) < 0)
            throw_errno("chmod 0700");
    });
}

Identity create_with(const IdentityStore &store, const std::string &name, std::optional<TokenClaims> token) {
    check_name(name);
    ensure_store_dir(store);
    std::string final_path = store.dir + "/" + name;
    if (path_exists(final_path))
        throw Error(fmt::format("identity \"{}\" already exists", name));

    crypto::Ed25519Pair key = crypto::ed25519_generate();
    ScopeExit wipe_seed([&] { crypto::wipe(key.seed); });
    Identity id;
    id.name = name;
    id.uuid = uuid_v4();
    id.owner_uid = store.uid;
    id.created = rfc3339(now_seconds());
    id.kind = token ? Kind::token : Kind::local;
    id.public_key = public_key_pem(key.public_key);
    id.fingerprint = fingerprint(key.public_key);
    id.token = std::move(token);
    std::string priv = private_key_pem(key.seed);
    ScopeExit wipe([&] { crypto::wipe(priv); });

    // Build it under a name no identity can have, then rename it into place:
    // nobody ever sees half an identity, and a failure leaves nothing behind.
    std::string tmp = fmt::format("{}/.new-{}-{}", store.dir, name, id.uuid);
    if (::mkdir(tmp.c_str(), 0700) < 0)
        throw_errno("create {}", tmp);
    ScopeExit cleanup([&] {
        try {
            remove_tree(tmp);
        } catch (const Error &) {
        }
    });
    with_context(fmt::format("create identity \"{}\"", name), [&] {
        UniqueFd dfd(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dfd)
            throw_errno("open {}", tmp);
        if (::fchmod(dfd.get(), 0700) < 0)
            throw_errno("chmod {}", tmp);
        if (::geteuid() == 0 && store.uid != 0 && ::fchown(dfd.get(), store.uid, static_cast<gid_t>(-1)) < 0)
            throw_errno("chown {}", tmp);
        write_new(dfd.get(), kKeyFile, priv, store.uid);
        write_new(dfd.get(), kPubFile, id.public_key, store.uid);
        write_new(dfd.get(), kInfoFile, stored_json(id).dump(2) + "\n", store.uid);
        if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) < 0) {
            if (errno == EEXIST)
                throw Error(fmt::format("identity \"{}\" already exists", name));
            throw_errno("rename {} to {}", tmp, final_path);
        }
    });
    cleanup.dismiss();
    return id;
}

std::optional<uid_t> entry_owner(const IdentityStore &store, const std::string &name) {
    struct stat st {};
    if (::lstat((store.dir + "/" + name).c_str(), &st) < 0)
        return std::nullopt;
    return st.st_uid;
}

Identity default_named(const IdentityStore &store, const std::string &name, bool check_key) {
    try {
        return create_with(store, name, std::nullopt);
    } catch (const Error &) {
        if (!entry_owner(store, name)) // else another mxc made it first: use that one
            throw;
    }
    return load(store, name, store.uid, check_key);
}

} // namespace

IdentityStore default_store() {
    IdentityStore s;
    s.uid = ::geteuid();
    if (const char *st = std::getenv("MXC_STATE_DIR"); st && *st)
        s.dir = absolute_or(st) + "/identities";
    else if (s.uid == 0)
        s.dir = "/var/lib/mxc/identities";
    else if (const char *xdg = std::getenv("XDG_DATA_HOME"); xdg && xdg[0] == '/')
        s.dir = std::string(xdg) + "/mxc/identities";
    else
        s.dir = home_of(s.uid) + "/.local/share/mxc/identities";
    return s;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 63)
        return false;
    auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_digit(name[0]))
        return false;
    return std::all_of(name.begin() + 1, name.end(),
                       [&](char c) { return lower_digit(c) || c == '_' || c == '.' || c == '-'; });
}

json to_json(const Identity &id) {
    json j;
    j["name"] = id.name;
    j["uuid"] = id.uuid;
    j["kind"] = id.kind == Kind::token ? "token" : "local";
    j["owner_uid"] = id.owner_uid;
    j["created"] = id.created;
    j["fingerprint"] = id.fingerprint;
    j["public_key"] = id.public_key;
    if (id.token) {
        const auto &t = *id.token;
        json tj;
        const std::pair<const char *, const std::string *> kept[] = {
            {"iss", &t.iss}, {"sub", &t.sub}, {"tid", &t.tid}, {"oid", &t.oid}};
        for (auto [k, v] : kept)
            if (!v->empty())
                tj[k] = *v;
        tj["exp"] = t.exp;
        tj["expires"] = rfc3339(t.exp);
        tj["alg"] = t.alg;
        if (!t.kid.empty())
            tj["kid"] = t.kid;
        j["token"] = tj;
    }
    return j;
}

Identity create(const IdentityStore &store, const std::string &name) { return create_with(store, name, std::nullopt); }

Identity create_from_token(const IdentityStore &store, const std::string &name, const TokenOptions &opts) {
    check_name(name);
    std::string jwt = read_file(opts.token_file);
    // Token files usually end with a newline; nothing else may surround it.
    auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
    while (!jwt.empty() && ws(jwt.back()))
        jwt.pop_back();
    size_t lead = 0;
    while (lead < jwt.size() && ws(jwt[lead]))
        ++lead;
    jwt.erase(0, lead);
    json jwks = json::parse(read_file(opts.jwks_file), nullptr, false);
    if (jwks.is_discarded())
        throw Error(fmt::format("jwks: {} is not JSON", opts.jwks_file));
    TokenCheck check;
    check.issuer = opts.issuer;
    check.audience = opts.audience;
    check.now = now_seconds();
    TokenClaims claims = verify_token(jwt, jwks, check);
    return create_with(store, name, std::move(claims));
}

Identity load(const IdentityStore &store, const std::string &name, uid_t caller_uid, bool check_key) {
    UniqueFd dfd = open_identity_dir(store, name, caller_uid);
    std::string text = read_owned(dfd.get(), kInfoFile, name, caller_uid);
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded())
        throw Error(fmt::format("{}/{}/{}: not JSON", store.dir, name, kInfoFile));
    Identity id = with_context(fmt::format("{}/{}/{}", store.dir, name, kInfoFile), [&] { return from_json(j); });
    if (id.owner_uid != caller_uid)
        throw_foreign(name, id.owner_uid);
    if (id.name != name)
        throw Error(fmt::format("identity \"{}\": identity.json names \"{}\"", name, id.name));
    if (!check_key)
        return id;
    id.public_key = read_owned(dfd.get(), kPubFile, name, caller_uid);
    std::string fp = with_context(fmt::format("identity \"{}\": {}", name, kPubFile),
                                  [&] { return detail::public_key_fingerprint(id.public_key); });
    if (fp != id.fingerprint)
        throw Error(fmt::format("identity \"{}\": {} does not match the fingerprint in {}", name, kPubFile, kInfoFile));
    return id;
}

Identity show(const IdentityStore &store, const std::string &name) { return load(store, name, store.uid); }

std::vector<Identity> list(const IdentityStore &store) {
    std::vector<Identity> out;
    DIR *d = ::opendir(store.dir.c_str());
    if (!d) {
        if (errno == ENOENT)
            return out;
        throw_errno("identity store {}", store.dir);
    }
    ScopeExit close_dir([d] { ::closedir(d); });
    while (struct dirent *de = ::readdir(d)) {
        std::string name = de->d_name;
        if (!valid_name(name)) // ".", "..", half-made ".new-*"
            continue;
        try {
            out.push_back(load(store, name, store.uid));
        } catch (const Error &e) {
            log::debug("identity list: skip {}: {}", name, e.what());
        }
    }
    std::sort(out.begin(), out.end(), [](const Identity &a, const Identity &b) { return a.name < b.name; });
    return out;
}

void remove(const IdentityStore &store, const std::string &name) {
    // Only the owner may delete: the files must be theirs and identity.json,
    // when it still parses, must name them.  A damaged identity of one's own
    // can still be deleted.
    with_context(fmt::format("delete identity \"{}\"", name), [&] {
        UniqueFd dfd = open_identity_dir(store, name, store.uid);
        std::string text;
        try {
            text = read_owned(dfd.get(), kInfoFile, name, store.uid);
        } catch (const Error &e) {
            if (e.code() != ENOENT)
                throw;
        }
        json j = json::parse(text, nullptr, false);
        if (j.is_object() && j.contains("owner_uid") && j["owner_uid"].is_number_unsigned() &&
            j["owner_uid"].get<uid_t>() != store.uid)
            throw_foreign(name, j["owner_uid"].get<uid_t>());
        remove_tree(store.dir + "/" + name);
    });
}

Identity default_identity(const IdentityStore &store, uid_t uid, bool check_key) {
    IdentityStore mine{store.dir, uid};
    auto owner = entry_owner(mine, "default");
    if (!owner || *owner == uid)
        return owner ? load(mine, "default", uid, check_key) : default_named(mine, "default", check_key);
    // "default" here is someone else's (a shared store): use the login name.
    std::string name = fmt::format("user-{}", uid);
    if (auto u = user_entry(uid); u && valid_name(u->name) && u->name != "default")
        name = u->name;
    auto o = entry_owner(mine, name);
    return o ? load(mine, name, uid, check_key) : default_named(mine, name, check_key);
}

namespace {

// The identity's Ed25519 seed (32 secret bytes).
std::string load_private_key(const IdentityStore &store, const std::string &name) {
    load(store, name, store.uid);
    UniqueFd dfd = open_identity_dir(store, name, store.uid);
    mode_t mode = 0;
    std::string pem = read_owned(dfd.get(), kKeyFile, name, store.uid, &mode);
    ScopeExit wipe([&] { crypto::wipe(pem); });
    if (mode & 077)
        throw Error(fmt::format("{} is accessible to others (mode {:04o}); expected 0600", kKeyFile, mode));
    return with_context(kKeyFile, [&] { return read_private_key_pem(pem); });
}

} // namespace

std::string sign(const IdentityStore &store, const std::string &name, std::string_view data) {
    return with_context(fmt::format("sign with identity \"{}\"", name), [&] {
        std::string seed = load_private_key(store, name);
        ScopeExit wipe([&] { crypto::wipe(seed); });
        return crypto::ed25519_sign(seed, data);
    });
}

std::function<std::string(std::string_view)> signing_key(const IdentityStore &store, const std::string &name) {
    // Wiped when the last copy of the signer goes.
    struct Seed {
        std::string bytes;
        ~Seed() { crypto::wipe(bytes); }
    };
    auto seed = std::make_shared<Seed>();
    seed->bytes = with_context(fmt::format("sign with identity \"{}\"", name),
                               [&] { return load_private_key(store, name); });
    return [seed, name](std::string_view data) {
        return with_context(fmt::format("sign with identity \"{}\"", name),
                            [&] { return crypto::ed25519_sign(seed->bytes, data); });
    };
}

} // namespace mxc::identity
