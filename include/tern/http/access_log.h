// AccessLog: where the HTTP protocol reports each response, for an access log. The protocol
// calls record() on the connection's thread right after encoding the response; an
// implementation must not block there (tern-httpd's writer queues the line for a thread of its
// own). Off unless ProtocolOptions::access_log is set; when off, nothing is copied per request.
//
// Thread rule: record() is called concurrently from every thread that serves connections.
#pragma once

#include <cstdint>
#include <string_view>

#include "tern/net/inet_address.h"

namespace tern::http {

struct AccessEntry {
  const InetAddress& remote;
  std::string_view request_line;  // "GET /index.html HTTP/1.1"
  int status;
  uint64_t body_bytes;            // body bytes sent (0 for HEAD)
  std::string_view referer;       // empty if absent
  std::string_view user_agent;    // empty if absent
};

class AccessLog {
 public:
  virtual ~AccessLog() = default;
  virtual void record(const AccessEntry& entry) = 0;
};

}  // namespace tern::http
