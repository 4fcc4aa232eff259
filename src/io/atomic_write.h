// Writing a whole file so that readers never see half of it: the bytes go to PATH.tmp, which
// is then renamed over PATH (a stopped run leaves the old file or the new one, never a torn one).
#pragma once
#include <string>
#include <string_view>

namespace adallava {

// Throws Error naming the path when the file cannot be written or moved into place.
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace adallava
