// http::Request's lookups and OwnedRequest: one copy of a request for a worker thread.
#include "tern/http/request.h"

#include <algorithm>
#include <cstring>

namespace tern::http {
namespace {

// Where `part` lies in the bytes copied from `from` (a view of those bytes), or the part itself
// when it lies elsewhere (a constant): rebased views point into the owned copy.
struct Rebase {
  const char* from_begin;
  const char* from_end;
  const char* to;
  std::string_view operator()(std::string_view part) const noexcept {
    if (part.empty()) return {};
    if (part.data() >= from_begin && part.data() + part.size() <= from_end) {
      return {to + (part.data() - from_begin), part.size()};
    }
    return part;
  }
};

}  // namespace

std::optional<std::string_view> Request::param(std::string_view name) const noexcept {
  for (const Param& p : params) {
    if (p.name == name) return p.value;
  }
  return std::nullopt;
}

OwnedRequest::OwnedRequest(const Request& request) { rebase(request); }

// The head's views all lie in one stretch of the input (request line to the last field); the
// body may lie after it or in the parser's de-chunked buffer, and the router's params may be
// decoded copies. Every piece is copied once into one buffer: the head's stretch, the body,
// then each param that is not inside the head.
void OwnedRequest::rebase(const Request& from) {
  const char* begin = nullptr;
  const char* end = nullptr;
  auto cover = [&](std::string_view part) {
    if (part.empty()) return;
    begin = begin == nullptr ? part.data() : std::min(begin, part.data());
    end = end == nullptr ? part.data() + part.size() : std::max(end, part.data() + part.size());
  };
  cover(from.method_token);
  cover(from.target);
  for (const Header& h : from.headers) {
    cover(h.name);
    cover(h.value);
  }
  size_t head = begin == nullptr ? 0 : static_cast<size_t>(end - begin);
  size_t params = 0;
  for (const Param& p : from.params) params += p.name.size() + p.value.size();
  bytes_.resize(head + from.body.size() + params);
  char* out = bytes_.data();
  if (head > 0) std::memcpy(out, begin, head);
  Rebase in_head{begin, end, out};

  request_ = from;
  request_.method_token = in_head(from.method_token);
  request_.target = in_head(from.target);
  request_.path = in_head(from.path);
  request_.query = in_head(from.query);
  headers_.clear();
  headers_.reserve(from.headers.size());
  for (const Header& h : from.headers) headers_.push_back({in_head(h.name), in_head(h.value)});
  request_.headers = Headers(headers_);

  char* next = out + head;
  if (!from.body.empty()) std::memcpy(next, from.body.data(), from.body.size());
  request_.body = std::string_view(next, from.body.size());
  next += from.body.size();

  params_.clear();
  params_.reserve(from.params.size());
  for (const Param& p : from.params) {
    std::string_view name(next, p.name.size());
    std::memcpy(next, p.name.data(), p.name.size());
    next += p.name.size();
    std::string_view value(next, p.value.size());
    if (!p.value.empty()) std::memcpy(next, p.value.data(), p.value.size());
    next += p.value.size();
    params_.push_back({name, value});
  }
  request_.params = params_;
}

}  // namespace tern::http
