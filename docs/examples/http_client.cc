// The README's HTTP client: fetches one URL from tern-httpd (or any HTTP/1.1 server) with
// http::Client on an event loop and prints the status and the body.
//
//   example-http-client http://127.0.0.1:8080/plaintext
//
// Numeric addresses only (tern does no DNS lookups); plain http.
#include <cstdio>
#include <string>
#include <string_view>

#include "tern/http/client.h"
#include "tern/tern.h"

namespace {

struct Url {
  std::string host;
  uint16_t port = 80;
  std::string target = "/";
};

// "http://HOST[:PORT][/TARGET]"; false if it is not one.
bool parse_url(std::string_view text, Url& url) {
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) != scheme) return false;
  text.remove_prefix(scheme.size());
  size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) url.target = std::string(text.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    url.port = static_cast<uint16_t>(std::stoul(std::string(authority.substr(colon + 1))));
    authority = authority.substr(0, colon);
  }
  if (authority.size() > 1 && authority.front() == '[') authority = authority.substr(1, authority.size() - 2);
  url.host = std::string(authority);
  return !url.host.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Url url;
  if (argc != 2 || !parse_url(argv[1], url)) {
    std::fprintf(stderr, "usage: %s http://HOST[:PORT][/PATH]\n", argv[0]);
    return 2;
  }
  auto address = tern::InetAddress::parse(url.host, url.port);
  if (!address) {
    std::fprintf(stderr, "%s: %s\n", url.host.c_str(), address.error().message().c_str());
    return 2;
  }

  tern::EventLoop loop(tern::BackendKind::epoll);
  tern::http::ClientOptions options;
  options.response_timeout = std::chrono::seconds(10);
  tern::http::Client client(loop, *address, options);
  int exit_code = 1;
  client.request(tern::http::ClientRequest::get(url.target),
                 [&](std::error_code error, const tern::http::ParsedResponse* response) {
                   if (error) {
                     std::fprintf(stderr, "%s: %s\n", argv[1], error.message().c_str());
                   } else {
                     std::printf("%d %.*s\n", response->status,
                                 static_cast<int>(response->reason.size()),
                                 response->reason.data());
                     std::fwrite(response->body.data(), 1, response->body.size(), stdout);
                     exit_code = response->status < 400 ? 0 : 1;
                   }
                   loop.stop();  // the response's views die with this call: print them first
                 });
  loop.run();
  return exit_code;
}
