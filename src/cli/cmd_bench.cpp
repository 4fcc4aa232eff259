#include "cli/commands.h"
namespace adallava::cli {
void register_bench(CLI::App&) {}
}  // namespace adallava::cli
