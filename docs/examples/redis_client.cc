// The README's Redis client: sends one command to a Redis server with redis::Client on an event
// loop and prints the reply, as redis-cli would.
//
//   example-redis-client 127.0.0.1:6379 INCRBY hits 5
//   example-redis-client 127.0.0.1:6379 GET hits
//
// Numeric addresses only (tern does no DNS lookups). REDIS_PASSWORD in the environment, when
// set, goes into the connection's greeting (AUTH).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tern/redis/client.h"
#include "tern/tern.h"

namespace {

// "HOST:PORT" (a bracketed IPv6 host too); an error when it is not one.
tern::Result<tern::InetAddress> parse_address(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::make_error_code(std::errc::invalid_argument);
  std::string_view host = text.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::atoi(std::string(text.substr(colon + 1)).c_str());
  if (port <= 0 || port > 65535) return std::make_error_code(std::errc::invalid_argument);
  return tern::InetAddress::parse(host, static_cast<uint16_t>(port));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST:PORT COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  auto address = parse_address(argv[1]);
  if (!address) {
    std::fprintf(stderr, "%s: %s\n", argv[1], address.error().message().c_str());
    return 2;
  }
  tern::redis::Command command(argv[2]);
  for (int i = 3; i < argc; ++i) command.arg(std::string_view(argv[i]));

  tern::EventLoop loop(tern::BackendKind::epoll);
  tern::redis::ClientOptions options;
  if (const char* password = std::getenv("REDIS_PASSWORD")) options.password = password;
  tern::redis::Client client(loop, *address, options);
  int exit_code = 1;
  client.command(std::move(command),
                 [&](std::error_code error, const tern::redis::Value* reply) {
                   // An error reply comes with its text; other errors without a reply.
                   if (reply != nullptr) std::printf("%s\n", reply->to_string().c_str());
                   if (error) std::fprintf(stderr, "%s: %s\n", argv[2], error.message().c_str());
                   exit_code = error ? 1 : 0;
                   loop.stop();  // the reply's views die with this call: print them first
                 });
  loop.run();
  return exit_code;
}
