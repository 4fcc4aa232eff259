// One error type for everything that crosses a boundary (files, configs, images, requests).
// The message is a single line that names the thing at fault; the CLI prints it and exits 1.
#pragma once
#include <stdexcept>
#include <string>

namespace adallava {

// The text as one line of valid UTF-8: control characters and bytes that are not UTF-8 (a file's
// bytes quoted in a message) become \xNN, so a message prints on one line and fits in JSON.
std::string one_line(const std::string& text);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(one_line(what)) {}
};

// A bad value of an option of a library call, named as its options struct spells it
// ("drop_layers", "image_size"): what() is "drop_layers: <message>". A front end names its own
// flag for it instead (the CLI: --drop-layers).
class OptionError : public Error {
 public:
  OptionError(const std::string& option, const std::string& message)
      : Error(option + ": " + message), option_(one_line(option)), message_(one_line(message)) {}
  const std::string& option() const { return option_; }
  const std::string& message() const { return message_; }

 private:
  std::string option_, message_;
};

}  // namespace adallava
