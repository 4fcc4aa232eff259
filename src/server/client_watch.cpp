#include "server/client_watch.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace adallava::server {

namespace {

// The address and port of a socket's end as text and number (IPv4 or IPv6).
bool end_of(const sockaddr_storage& a, std::string* addr, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    *port = ntohs(in->sin_port);
    return inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) && (*addr = text, true);
  }
  if (a.ss_family == AF_INET6) {
    const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    *port = ntohs(in->sin6_port);
    return inet_ntop(AF_INET6, &in->sin6_addr, text, sizeof text) && (*addr = text, true);
  }
  return false;
}

bool is_connection(int fd, const std::string& remote_addr, int remote_port, int local_port) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  sockaddr_storage peer{}, self{};
  socklen_t n = sizeof peer, m = sizeof self;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &n) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&self), &m) != 0)
    return false;
  std::string peer_addr, self_addr;
  int peer_port = 0, self_port = 0;
  return end_of(peer, &peer_addr, &peer_port) && end_of(self, &self_addr, &self_port) && peer_port == remote_port &&
         self_port == local_port && peer_addr == remote_addr;
}

}  // namespace

ClientWatch::ClientWatch(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (is_connection(int(fd), remote_addr, remote_port, local_port)) {
      fd_ = int(fd);
      break;
    }
  }
  closedir(dir);
}

bool ClientWatch::gone() const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

}  // namespace adallava::server
