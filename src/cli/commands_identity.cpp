#include "cli.hpp"

namespace mxc::cli {

void add_identity_commands(CLI::App &, Context &) {}

} // namespace mxc::cli
