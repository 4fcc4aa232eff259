// Whether the client of a request the server is still working on has hung up. cpp-httplib 0.11
// (Debian 12's) gives a handler no socket and no such signal, so the watch finds the request's
// socket among the process's open ones by the connection's two ends, and asks the kernel
// whether the peer closed its side (POLLRDHUP), reading nothing. A non-streaming request then
// stops at its next token when its client has gone, as a streaming one does on a failed write.
#pragma once
#include <string>

namespace adallava::server {

class ClientWatch {
 public:
  ClientWatch() = default;
  // The connection from remote_addr:remote_port to this process's local_port.
  ClientWatch(const std::string& remote_addr, int remote_port, int local_port);
  // True once the peer has closed or reset the connection; false while it is open, and when
  // the socket was not found (nothing is stopped then).
  bool gone() const;
  bool watching() const { return fd_ >= 0; }

 private:
  int fd_ = -1;  // owned by the HTTP server, open while its handler runs
};

}  // namespace adallava::server
