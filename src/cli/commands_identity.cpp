// identity create|list|show|delete.
#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "mxc/identity/identity.hpp"

namespace mxc::cli {

namespace {

void print_json(const nlohmann::json &j) { std::printf("%s\n", j.dump(2).c_str()); }

} // namespace

void add_identity_commands(CLI::App &app, Context &ctx) {
    if (!ctx.wants("identity"))
        return;
    auto *group = app.add_subcommand("identity", "Manage the identities sandboxes run as");
    group->require_subcommand(1);
    {
        struct Args {
            std::string name, token, jwks, issuer, audience;
        };
        auto a = std::make_shared<Args>();
        auto *c = group->add_subcommand("create", "Create a local identity, or one from a verified OIDC token");
        c->add_option("name", a->name, "Identity name ([a-z0-9][a-z0-9_.-]*)")->required();
        auto *tok = c->add_option("--token", a->token, "File holding an OIDC JWT to verify offline");
        auto *jwks = c->add_option("--jwks", a->jwks, "JWKS file with the issuer's public keys");
        tok->needs(jwks);
        jwks->needs(tok);
        c->add_option("--issuer", a->issuer, "Require this iss claim")->needs(tok);
        c->add_option("--audience", a->audience, "Require this audience in aud")->needs(tok);
        c->callback([&ctx, a] {
            run_command(ctx, [&] {
                auto store = identity::default_store();
                identity::Identity id;
                if (a->token.empty()) {
                    id = identity::create(store, a->name);
                } else {
                    identity::TokenOptions o{a->token, a->jwks, std::nullopt, std::nullopt};
                    if (!a->issuer.empty())
                        o.issuer = a->issuer;
                    if (!a->audience.empty())
                        o.audience = a->audience;
                    id = identity::create_from_token(store, a->name, o);
                }
                print_json(identity::to_json(id));
                return 0;
            });
        });
    }
    {
        auto json = std::make_shared<bool>(false);
        auto *c = group->add_subcommand("list", "List your identities");
        c->alias("ls");
        c->add_flag("--json", *json, "Print a JSON array");
        c->callback([&ctx, json] {
            run_command(ctx, [&] {
                auto ids = identity::list(identity::default_store());
                if (*json) {
                    nlohmann::json arr = nlohmann::json::array();
                    for (const auto &id : ids)
                        arr.push_back(identity::to_json(id));
                    std::printf("%s\n", arr.dump().c_str());
                    return 0;
                }
                std::printf("%-24s %-6s %-36s %-20s %s\n", "NAME", "KIND", "UUID", "CREATED", "SUBJECT");
                for (const auto &id : ids)
                    std::printf("%-24s %-6s %-36s %-20s %s\n", id.name.c_str(),
                                id.kind == identity::Kind::token ? "token" : "local", id.uuid.c_str(),
                                id.created.c_str(), id.token ? id.token->sub.c_str() : "-");
                return 0;
            });
        });
    }
    {
        auto name = std::make_shared<std::string>();
        auto *c = group->add_subcommand("show", "Print an identity as JSON (never the private key)");
        c->add_option("name", *name, "Identity name")->required();
        c->callback([&ctx, name] {
            run_command(ctx, [&] {
                print_json(identity::to_json(identity::show(identity::default_store(), *name)));
                return 0;
            });
        });
    }
    {
        auto name = std::make_shared<std::string>();
        auto *c = group->add_subcommand("delete", "Delete an identity and its keys");
        c->alias("rm");
        c->add_option("name", *name, "Identity name")->required();
        c->callback([&ctx, name] {
            run_command(ctx, [&] {
                identity::remove(identity::default_store(), *name);
                return 0;
            });
        });
    }
}

} // namespace mxc::cli
