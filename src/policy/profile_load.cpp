// Profile YAML -> Profile.  Every key is known or refused, every value has
// its type checked, and each error names the file and the YAML path, as
// oci::parse_spec does for config.json.  `extends` is followed here and the
// chain merged: lists appended (parent first), scalars overridden.
#include "mxc/policy/profile.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <set>

#include <yaml.h>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "policy_internal.hpp"

namespace mxc::policy {
namespace {

// A parsed YAML document (libyaml's document API: the parser builds the node
// graph; aliases are references to one node) and a light view of its nodes.
// Profiles need only scalars, sequences and mappings; every value stays a
// string until the Reader below checks its type.
class YamlDocument {
  public:
    YamlDocument(const std::string &file, std::string_view text) {
        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser))
            throw_error("{}: cannot start the YAML parser", file);
        yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char *>(text.data()), text.size());
        bool ok = yaml_parser_load(&parser, &doc_) != 0;
        if (!ok) {
            std::string msg = parser.problem ? parser.problem : "malformed YAML";
            if (parser.context)
                msg = fmt::format("{} {}", parser.context, msg);
            size_t line = parser.problem_mark.line + 1;
            yaml_parser_delete(&parser);
            throw_error("{}: line {}: {}", file, line, msg);
        }
        yaml_parser_delete(&parser);
    }
    ~YamlDocument() { yaml_document_delete(&doc_); }
    YamlDocument(const YamlDocument &) = delete;
    YamlDocument &operator=(const YamlDocument &) = delete;

    yaml_document_t *get() { return &doc_; }

  private:
    yaml_document_t doc_{};
};

class Node {
  public:
    Node() = default;
    Node(yaml_document_t *doc, yaml_node_t *n) : doc_(doc), n_(n) {}

    // Present (a key that is missing gives a node that is not).
    explicit operator bool() const { return n_ != nullptr; }
    // ~, null, Null, NULL or nothing, unquoted (YAML's null), or an empty document.
    bool IsNull() const {
        if (!n_)
            return true;
        if (n_->type != YAML_SCALAR_NODE || n_->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return false;
        std::string_view v = view();
        return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
    }
    bool IsScalar() const { return n_ && n_->type == YAML_SCALAR_NODE && !IsNull(); }
    bool IsSequence() const { return n_ && n_->type == YAML_SEQUENCE_NODE; }
    bool IsMap() const { return n_ && n_->type == YAML_MAPPING_NODE; }
    std::string Scalar() const { return std::string(view()); }

    size_t size() const {
        return IsSequence() ? static_cast<size_t>(n_->data.sequence.items.top - n_->data.sequence.items.start) : 0;
    }
    Node operator[](size_t i) const { return at(n_->data.sequence.items.start[i]); }
    // The value of a key of this mapping (keys are unique: check_keys).
    Node operator[](std::string_view key) const {
        if (!IsMap())
            return {};
        for (auto *p = n_->data.mapping.pairs.start; p < n_->data.mapping.pairs.top; ++p) {
            Node k = at(p->key);
            if (k.n_ && k.n_->type == YAML_SCALAR_NODE && k.view() == key)
                return at(p->value);
        }
        return {};
    }
    std::vector<std::pair<Node, Node>> pairs() const {
        std::vector<std::pair<Node, Node>> out;
        if (IsMap())
            for (auto *p = n_->data.mapping.pairs.start; p < n_->data.mapping.pairs.top; ++p)
                out.emplace_back(at(p->key), at(p->value));
        return out;
    }

  private:
    std::string_view view() const {
        return {reinterpret_cast<const char *>(n_->data.scalar.value), n_->data.scalar.length};
    }
    Node at(int id) const { return {doc_, yaml_document_get_node(doc_, id)}; }

    yaml_document_t *doc_ = nullptr;
    yaml_node_t *n_ = nullptr;
};

struct Reader {
    std::string file;

    template <typename... Args>
    [[noreturn]] void fail(const std::string &path, fmt::format_string<Args...> f, Args &&...args) const {
        throw_error("{}: {}: {}", file, path.empty() ? "." : path, fmt::format(f, std::forward<Args>(args)...));
    }

    void check_keys(const Node &n, const std::string &path, const std::set<std::string> &known) const {
        if (!n.IsMap())
            fail(path, "expected a mapping");
        std::set<std::string> seen;
        for (const auto &[k, v] : n.pairs()) {
            if (!k.IsScalar())
                fail(path, "keys must be strings");
            std::string key = k.Scalar();
            if (!seen.insert(key).second)
                fail(path + "." + key, "duplicate key");
            if (!known.count(key)) {
                std::string list;
                for (const auto &k : known)
                    list += (list.empty() ? "" : ", ") + k;
                fail(path + "." + key, "unknown key (known here: {})", list);
            }
        }
    }

    std::string string(const Node &n, const std::string &path) const {
        if (!n.IsScalar())
            fail(path, "expected a string");
        return n.Scalar();
    }

    std::string one_of(const Node &n, const std::string &path, std::initializer_list<const char *> values) const {
        std::string s = string(n, path);
        std::string list;
        for (const char *v : values) {
            if (s == v)
                return s;
            list += fmt::format("{}{}", list.empty() ? "" : ", ", v);
        }
        fail(path, "\"{}\" is not one of: {}", s, list);
    }

    bool boolean(const Node &n, const std::string &path) const {
        if (n.IsScalar()) {
            const std::string &s = n.Scalar();
            if (s == "true" || s == "yes" || s == "on")
                return true;
            if (s == "false" || s == "no" || s == "off")
                return false;
        }
        fail(path, "expected true or false");
    }

    int64_t integer(const Node &n, const std::string &path) const {
        if (n.IsScalar()) {
            const std::string &s = n.Scalar();
            int64_t v = 0;
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (ec == std::errc() && p == s.data() + s.size())
                return v;
        }
        fail(path, "expected an integer");
    }

    double number(const Node &n, const std::string &path) const {
        if (n.IsScalar()) {
            const std::string &s = n.Scalar();
            char *end = nullptr;
            double v = std::strtod(s.c_str(), &end);
            if (!s.empty() && end == s.c_str() + s.size())
                return v;
        }
        fail(path, "expected a number");
    }

    std::vector<std::string> strings(const Node &n, const std::string &path) const {
        std::vector<std::string> out;
        if (n.IsNull())
            return out;
        if (!n.IsSequence())
            fail(path, "expected a list of strings");
        for (size_t i = 0; i < n.size(); ++i)
            out.push_back(string(n[i], fmt::format("{}[{}]", path, i)));
        return out;
    }
};

// ~, ~/x, ${HOME}, ${WORKSPACE}; relative paths are refused so that a
// profile means the same from every directory.
void check_path_template(const Reader &r, const std::string &p, const std::string &path) {
    if (p.empty())
        r.fail(path, "empty path");
    size_t pos = 0;
    while ((pos = p.find("${", pos)) != std::string::npos) {
        size_t end = p.find('}', pos);
        if (end == std::string::npos)
            r.fail(path, "unterminated ${{ in \"{}\"", p);
        std::string var = p.substr(pos + 2, end - pos - 2);
        if (var != "HOME" && var != "WORKSPACE")
            r.fail(path, "unknown variable ${{{}}} in \"{}\" (known: HOME, WORKSPACE)", var, p);
        pos = end + 1;
    }
    bool ok = p[0] == '/' || p == "~" || p.rfind("~/", 0) == 0 || p.rfind("${HOME}", 0) == 0 ||
              p.rfind("${WORKSPACE}", 0) == 0;
    if (!ok)
        r.fail(path, "relative path \"{}\": write /abs, ~/..., ${{HOME}}/... or ${{WORKSPACE}}/...", p);
}

std::vector<std::string> path_list(const Reader &r, const Node &n, const std::string &path) {
    auto list = r.strings(n, path);
    for (size_t i = 0; i < list.size(); ++i)
        check_path_template(r, list[i], fmt::format("{}[{}]", path, i));
    return list;
}

void parse_filesystem(const Reader &r, const Node &n, Profile::Filesystem &fs) {
    if (n.IsNull())
        return;
    r.check_keys(n, ".filesystem", {"readwrite", "readonly", "deny", "tmpfs", "home"});
    if (n["readwrite"])
        fs.readwrite = path_list(r, n["readwrite"], ".filesystem.readwrite");
    if (n["readonly"])
        fs.readonly = path_list(r, n["readonly"], ".filesystem.readonly");
    if (n["deny"])
        fs.deny = path_list(r, n["deny"], ".filesystem.deny");
    if (n["tmpfs"])
        fs.tmpfs = path_list(r, n["tmpfs"], ".filesystem.tmpfs");
    if (n["home"])
        fs.home = r.one_of(n["home"], ".filesystem.home", {"hidden", "readonly"});
}

void parse_network(const Reader &r, const Node &n, Profile::Network &net) {
    if (n.IsNull())
        return;
    r.check_keys(n, ".network", {"mode", "allow"});
    if (n["mode"])
        net.mode = r.one_of(n["mode"], ".network.mode", {"none", "loopback", "allow", "host"});
    if (n["allow"]) {
        net.allow = r.strings(n["allow"], ".network.allow");
        for (size_t i = 0; i < net.allow.size(); ++i) {
            try {
                check_allow_entry(net.allow[i]);
            } catch (const Error &e) {
                r.fail(fmt::format(".network.allow[{}]", i), "{}", e.message());
            }
        }
    }
}

void parse_limits(const Reader &r, const Node &n, Profile::Limits &l) {
    if (n.IsNull())
        return;
    r.check_keys(n, ".limits", {"memory", "pids", "cpu", "timeout", "required"});
    if (n["memory"]) {
        l.memory = r.string(n["memory"], ".limits.memory");
        try {
            if (parse_size(*l.memory) == 0)
                r.fail(".limits.memory", "must be greater than zero");
        } catch (const Error &e) {
            r.fail(".limits.memory", "{}", e.message());
        }
    }
    if (n["pids"]) {
        l.pids = r.integer(n["pids"], ".limits.pids");
        if (*l.pids <= 0)
            r.fail(".limits.pids", "must be greater than zero");
    }
    if (n["cpu"]) {
        l.cpu = r.number(n["cpu"], ".limits.cpu");
        if (!(*l.cpu > 0) || *l.cpu > 4096)
            r.fail(".limits.cpu", "must be a number of CPUs greater than zero");
    }
    if (n["timeout"]) {
        l.timeout = r.string(n["timeout"], ".limits.timeout");
        try {
            if (parse_duration_ms(*l.timeout) == 0)
                r.fail(".limits.timeout", "must be greater than zero");
        } catch (const Error &e) {
            r.fail(".limits.timeout", "{}", e.message());
        }
    }
    if (n["required"])
        l.required = r.boolean(n["required"], ".limits.required");
}

bool valid_env_name(const std::string &s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
        return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
            return false;
    return true;
}

void parse_env(const Reader &r, const Node &n, Profile::Env &env) {
    if (n.IsNull())
        return;
    r.check_keys(n, ".env", {"keep", "set"});
    if (n["keep"]) {
        env.keep = r.strings(n["keep"], ".env.keep");
        for (size_t i = 0; i < env.keep.size(); ++i) {
            std::string name = env.keep[i];
            if (!name.empty() && name.back() == '*')
                name.pop_back();
            if (!valid_env_name(name))
                r.fail(fmt::format(".env.keep[{}]", i), "\"{}\" is not a variable name or PREFIX*", env.keep[i]);
        }
    }
    if (const Node set = n["set"]; set && !set.IsNull()) {
        if (!set.IsMap())
            r.fail(".env.set", "expected a mapping of NAME: value");
        for (const auto &[k, v] : set.pairs()) {
            std::string key = r.string(k, ".env.set");
            std::string path = ".env.set." + key;
            if (!valid_env_name(key))
                r.fail(path, "\"{}\" is not a variable name", key);
            if (env.set.count(key))
                r.fail(path, "duplicate key");
            env.set[key] = r.string(v, path);
        }
    }
}

bool is_file_ref(const std::string &s) {
    return s.find('/') != std::string::npos ||
           (s.size() > 5 && s.compare(s.size() - 5, 5, ".yaml") == 0);
}

std::string dir_of(const std::string &file) {
    size_t slash = file.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
}

std::string resolve_against(const std::string &p, const std::string &dir) {
    return p.front() == '/' ? p : dir + "/" + p;
}

std::string stem_of(const std::string &file) {
    size_t slash = file.rfind('/');
    std::string base = slash == std::string::npos ? file : file.substr(slash + 1);
    if (base.size() > 5 && base.compare(base.size() - 5, 5, ".yaml") == 0)
        base.resize(base.size() - 5);
    return base;
}

// One file alone; extends is returned for the caller to follow.
Profile parse_one(const std::string &file, std::optional<std::string> &extends) {
    Reader r{file};
    std::string text;
    try {
        text = read_file(file);
    } catch (const Error &e) {
        throw Error(e.code(), fmt::format("{}: cannot open profile", file));
    }
    YamlDocument yaml(file, text);
    Node doc(yaml.get(), yaml_document_get_root_node(yaml.get()));
    if (doc.IsNull())
        r.fail("", "empty profile");
    r.check_keys(doc, "", {"name", "description", "extends", "filesystem", "network", "limits", "env",
                           "seccomp", "identity", "audit", "gpu"});
    Profile p;
    p.source = file;
    p.name = doc["name"] ? r.string(doc["name"], ".name") : stem_of(file);
    if (doc["description"])
        p.description = r.string(doc["description"], ".description");
    if (doc["extends"])
        extends = r.string(doc["extends"], ".extends");
    if (doc["filesystem"])
        parse_filesystem(r, doc["filesystem"], p.filesystem);
    if (doc["network"])
        parse_network(r, doc["network"], p.network);
    if (doc["limits"])
        parse_limits(r, doc["limits"], p.limits);
    if (doc["env"])
        parse_env(r, doc["env"], p.env);
    if (doc["seccomp"]) {
        std::string s = r.string(doc["seccomp"], ".seccomp");
        if (s != "default" && s != "strict") {
            if (s.find('/') == std::string::npos && s.find('.') == std::string::npos)
                r.fail(".seccomp", "\"{}\" is not default, strict or a path to a JSON file", s);
            s = resolve_against(s, dir_of(file));
            struct stat st {};
            if (::stat(s.c_str(), &st) < 0 || !S_ISREG(st.st_mode))
                r.fail(".seccomp", "no such file {}", s);
        }
        p.seccomp = s;
    }
    if (doc["identity"]) {
        const Node id = doc["identity"];
        r.check_keys(id, ".identity", {"env"});
        if (id["env"])
            p.identity_env = r.boolean(id["env"], ".identity.env");
    }
    if (doc["audit"])
        p.audit = r.one_of(doc["audit"], ".audit", {"required", "best-effort", "off"});
    if (doc["gpu"])
        p.gpu = r.boolean(doc["gpu"], ".gpu");
    return p;
}

template <typename T>
void append_unique(std::vector<T> &into, const std::vector<T> &more) {
    for (const auto &v : more)
        if (std::find(into.begin(), into.end(), v) == into.end())
            into.push_back(v);
}

template <typename T>
void override_opt(std::optional<T> &into, const std::optional<T> &child) {
    if (child)
        into = child;
}

Profile merge(Profile parent, const Profile &child) {
    Profile out = child;
    out.chain = child.chain;
    append_unique(out.chain, parent.chain);
    auto &pf = parent.filesystem;
    const auto &cf = child.filesystem;
    out.filesystem.readwrite = pf.readwrite;
    append_unique(out.filesystem.readwrite, cf.readwrite);
    out.filesystem.readonly = pf.readonly;
    append_unique(out.filesystem.readonly, cf.readonly);
    out.filesystem.deny = pf.deny;
    append_unique(out.filesystem.deny, cf.deny);
    out.filesystem.tmpfs = pf.tmpfs;
    append_unique(out.filesystem.tmpfs, cf.tmpfs);
    out.filesystem.home = cf.home ? cf.home : pf.home;

    out.network.mode = child.network.mode ? child.network.mode : parent.network.mode;
    out.network.allow = parent.network.allow;
    append_unique(out.network.allow, child.network.allow);

    out.limits = parent.limits;
    override_opt(out.limits.memory, child.limits.memory);
    override_opt(out.limits.pids, child.limits.pids);
    override_opt(out.limits.cpu, child.limits.cpu);
    override_opt(out.limits.timeout, child.limits.timeout);
    override_opt(out.limits.required, child.limits.required);

    out.env.keep = parent.env.keep;
    append_unique(out.env.keep, child.env.keep);
    out.env.set = parent.env.set;
    for (const auto &[k, v] : child.env.set)
        out.env.set[k] = v;

    out.seccomp = child.seccomp ? child.seccomp : parent.seccomp;
    out.identity_env = child.identity_env ? child.identity_env : parent.identity_env;
    out.audit = child.audit ? child.audit : parent.audit;
    out.gpu = child.gpu ? child.gpu : parent.gpu;
    return out;
}

std::string canonical_file(const std::string &file) {
    char *rp = ::realpath(file.c_str(), nullptr);
    if (!rp)
        throw_errno("profile {}", file);
    std::string s(rp);
    std::free(rp);
    return s;
}

bool regular_file(const std::string &p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string find_named(const std::string &name) {
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            throw_error("profile name \"{}\": use letters, digits, '-', '_' or a path to a .yaml file", name);
    std::string searched;
    for (const auto &dir : profile_search_path()) {
        std::string cand = dir + "/" + name + ".yaml";
        if (regular_file(cand))
            return cand;
        searched += (searched.empty() ? "" : ", ") + dir;
    }
    throw_error("profile \"{}\" not found (searched: {})", name, searched);
}

// `stack` holds the canonical files being loaded, outermost first.
Profile load_file(const std::string &file, std::vector<std::pair<std::string, std::string>> &stack) {
    std::string canon = canonical_file(file);
    std::optional<std::string> extends;
    Profile p = parse_one(file, extends);
    p.chain = {p.name};
    for (const auto &[f, name] : stack) {
        if (f == canon) {
            std::string cycle;
            for (const auto &[f2, n2] : stack)
                cycle += n2 + " -> ";
            throw_error("{}: .extends: cycle: {}{}", stack.back().first, cycle, p.name);
        }
    }
    if (!extends)
        return p;
    stack.emplace_back(canon, p.name);
    std::string parent_file;
    try {
        parent_file = is_file_ref(*extends) ? resolve_against(*extends, dir_of(file)) : find_named(*extends);
    } catch (Error &e) {
        e.add_context(fmt::format("{}: .extends", file));
        throw;
    }
    if (!regular_file(parent_file))
        throw_error("{}: .extends: no such profile file {}", file, parent_file);
    Profile parent = load_file(parent_file, stack);
    stack.pop_back();
    return merge(std::move(parent), p);
}

std::string env_or(const char *name, const std::string &fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

} // namespace

std::vector<std::string> profile_search_path() {
    std::vector<std::string> dirs;
    std::string list = env_or("MXC_PROFILE_PATH", "");
    size_t start = 0;
    while (start <= list.size() && !list.empty()) {
        size_t colon = list.find(':', start);
        std::string d = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (!d.empty())
            dirs.push_back(d);
        if (colon == std::string::npos)
            break;
        start = colon + 1;
    }
    std::string home = env_or("HOME", detail::passwd_home(::getuid()));
    std::string config = env_or("XDG_CONFIG_HOME", home.empty() ? "" : home + "/.config");
    if (!config.empty())
        dirs.push_back(config + "/mxc/profiles");
    dirs.push_back("/etc/mxc/profiles");
    dirs.push_back(MXC_PROFILE_DIR);
    dirs.push_back(MXC_PROFILE_DATADIR);
    return dirs;
}

std::string builtin_profile_dir() { return MXC_PROFILE_DIR; }

Profile load_profile(const std::string &name_or_file) {
    std::string file = is_file_ref(name_or_file) ? name_or_file : find_named(name_or_file);
    if (!regular_file(file))
        throw_error("profile {}: no such file", file);
    std::vector<std::pair<std::string, std::string>> stack;
    return load_file(file, stack);
}

void check_profile_file(const std::string &path) {
    if (!regular_file(path))
        throw_error("profile {}: no such file", path);
    std::vector<std::pair<std::string, std::string>> stack;
    (void)load_file(path, stack);
}

std::vector<ProfileInfo> list_profiles() {
    std::vector<ProfileInfo> out;
    std::set<std::string> seen;
    for (const auto &dir : profile_search_path()) {
        std::vector<std::string> names = detail::yaml_files(dir);
        for (const auto &n : names) {
            std::string stem = stem_of(n);
            if (!seen.insert(stem).second)
                continue;
            ProfileInfo info{stem, dir + "/" + n, ""};
            try {
                std::optional<std::string> ext;
                info.description = parse_one(info.path, ext).description;
            } catch (const Error &) {
                // Listed anyway; `mxc profile check` says what is wrong.
            }
            out.push_back(std::move(info));
        }
    }
    return out;
}

} // namespace mxc::policy
