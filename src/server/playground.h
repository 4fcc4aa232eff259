// The web playground's page (src/server/playground.html, built into the binary by CMake: the
// server needs no files and reaches no network at run time).
#pragma once
#include <string>

namespace adallava::server {

const std::string& playground_html();

}  // namespace adallava::server
