// An error a client caused or must hear about, as the OpenAI API reports it: an HTTP status and
// {"error": {"message", "type", "code"}}. The message is one line naming what is at fault.
#pragma once
#include <string>

#include "tensor/error.h"

namespace adallava::server {

struct ApiError : Error {
  ApiError(int status, std::string type, std::string code, const std::string& message)
      : Error(message), status(status), type(std::move(type)), code(std::move(code)) {}
  int status;
  std::string type, code;
};

// 400 invalid_request_error with a code.
inline ApiError bad_request(const std::string& code, const std::string& message) {
  return ApiError(400, "invalid_request_error", code, message);
}

}  // namespace adallava::server
