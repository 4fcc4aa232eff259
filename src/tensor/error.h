// One error type for everything that crosses a boundary (files, configs, images, requests).
// The message is a single line that names the thing at fault; the CLI prints it and exits 1.
#pragma once
#include <stdexcept>
#include <string>

namespace adallava {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace adallava
