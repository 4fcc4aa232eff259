// The watch finds a connection's socket by its two ends and sees its client hang up.
#include "server/client_watch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace adallava::server {
namespace {

int port_of(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t n = sizeof a;
  if (peer) getpeername(fd, reinterpret_cast<sockaddr*>(&a), &n);
  else getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  return ntohs(a.sin_port);
}

// A loopback connection: the listening socket, the client's end and the accepted end.
struct Connection {
  int listener = -1, client = -1, accepted = -1;
  Connection() {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listener, 1);
    socklen_t n = sizeof a;
    getsockname(listener, reinterpret_cast<sockaddr*>(&a), &n);
    client = socket(AF_INET, SOCK_STREAM, 0);
    connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a);
    accepted = accept(listener, nullptr, nullptr);
  }
  ~Connection() {
    for (int fd : {listener, client, accepted})
      if (fd >= 0) close(fd);
  }
};

bool gone_within_a_second(const ClientWatch& w) {
  for (int i = 0; i < 100; ++i) {
    if (w.gone()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ClientWatch, SeesTheClientHangUp) {
  Connection c;
  ASSERT_GE(c.accepted, 0);
  const ClientWatch w("127.0.0.1", port_of(c.accepted, true), port_of(c.accepted, false));
  ASSERT_TRUE(w.watching());
  EXPECT_FALSE(w.gone());
  const char request[] = "GET / HTTP/1.1\r\n\r\n";  // unread bytes are not a hang-up
  ASSERT_EQ(write(c.client, request, sizeof request - 1), ssize_t(sizeof request - 1));
  EXPECT_FALSE(w.gone());
  close(c.client);
  c.client = -1;
  EXPECT_TRUE(gone_within_a_second(w));
}

TEST(ClientWatch, AnUnknownConnectionIsNotWatched) {
  Connection c;
  const ClientWatch w("127.0.0.1", 1, port_of(c.accepted, false));  // no such peer port
  EXPECT_FALSE(w.watching());
  EXPECT_FALSE(w.gone());
  EXPECT_FALSE(ClientWatch().gone());
}

}  // namespace
}  // namespace adallava::server
