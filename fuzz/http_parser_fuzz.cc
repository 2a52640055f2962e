// libFuzzer target for the HTTP/1.1 parsers (tern/http/parser.h). Each input is parsed as a
// stream of pipelined requests, and as a response, three ways: whole, split at a point derived
// from the input, and (for short inputs) one byte at a time, each call on a fresh heap copy
// of exactly the bytes available (so ASan sees any read past them, and a kept pointer reads
// freed memory). The invariants: the three ways agree; consumed() never exceeds the input;
// every view lies inside the input (or is the parser's de-chunked body, or the constant "/");
// bytes examined stay linear in the input. Runs under two sets of limits (the defaults and
// small ones, so that 413/414/431 are reachable by short inputs).
//
//   make fuzz            FUZZ_SECONDS (300) of fuzzing from fuzz/corpus
//   make test-fuzz       30 seconds of each fuzz target, fails on a crash (part of `make test`)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tern/http/parser.h"

namespace {

using tern::fuzz::Exact;
using tern::fuzz::fail;
using tern::fuzz::inside;
using tern::fuzz::kMaxMessages;
using namespace tern::http;

void check_inside(std::string_view part, std::string_view input, const char* name) {
  if (!inside(part, input)) fail("a view lies outside the input", name);
}

std::string describe_request(const Request& r, std::string_view input) {
  check_inside(r.method_token, input, "method_token");
  check_inside(r.target, input, "target");
  // The path is in the input, or the constant "/" of an absolute-form target without one.
  if (!inside(r.path, input) && r.path != "/") fail("path outside the input", std::string(r.path));
  check_inside(r.query, input, "query");
  std::string out = std::string(r.method_token) + ' ' + std::string(r.target) + ' ' +
                    std::string(r.path) + '?' + std::string(r.query) + ' ' +
                    std::string(version_name(r.version));
  for (const Header& h : r.headers) {
    check_inside(h.name, input, "header name");
    check_inside(h.value, input, "header value");
    out += '\n' + std::string(h.name) + ": " + std::string(h.value);
  }
  out += "\nbody " + std::string(r.body);
  out += r.keep_alive ? " keep-alive" : " close";
  out += r.expects_continue ? " continue" : "";
  return out;
}

std::string describe_response(const ParsedResponse& r, std::string_view input) {
  check_inside(r.reason, input, "reason");
  std::string out = std::to_string(r.status) + ' ' + std::string(r.reason);
  for (const Header& h : r.headers) {
    check_inside(h.name, input, "header name");
    check_inside(h.value, input, "header value");
    out += '\n' + std::string(h.name) + ": " + std::string(h.value);
  }
  out += "\nbody " + std::string(r.body) + (r.keep_alive ? " keep-alive" : " close");
  return out;
}

void check_linear(uint64_t examined, size_t size) {
  if (examined > 2 * uint64_t(size) + 16) {
    fail("bytes examined not linear", std::to_string(examined) + " for " + std::to_string(size));
  }
}

// The requests in `data`, delivered up to each of `cuts` and then whole.
std::string request_transcript(std::string_view data, const std::vector<size_t>& cuts,
                               const Limits& limits) {
  RequestParser parser(limits);
  Exact buffer;
  std::string out;
  size_t base = 0;
  int messages = 0;
  auto deliver = [&](size_t cut) -> bool {  // false: the transcript is final
    while (messages < kMaxMessages) {
      std::string_view view = buffer.hold(data.substr(base, cut - base));
      ParseStatus status = parser.parse(view);
      if (parser.consumed() > view.size()) fail("consumed past the input", "");
      check_linear(parser.bytes_examined(), view.size());
      if (status == ParseStatus::need_more) return true;
      if (status == ParseStatus::error) {
        out += "error " + parser.error().message();
        return false;
      }
      if (parser.consumed() == 0) fail("complete with nothing consumed", "");
      out += describe_request(parser.request(), view) + " [" +
             std::to_string(parser.consumed()) + "]\n";
      ++messages;
      base += parser.consumed();
      parser.reset();
      if (base == cut) return true;
    }
    return false;
  };
  for (size_t cut : cuts) {
    if (!deliver(cut)) return out;
  }
  if (deliver(data.size()) && base < data.size()) out += "need more";
  return out;
}

std::string response_transcript(std::string_view data, const std::vector<size_t>& cuts,
                                 const Limits& limits, Method method) {
  ResponseParser parser(limits);
  Exact buffer;
  std::vector<size_t> all = cuts;
  all.push_back(data.size());
  ParseStatus status = ParseStatus::need_more;
  std::string_view view;
  for (size_t cut : all) {
    view = buffer.hold(data.substr(0, cut));
    status = parser.parse(view, method);
    if (status != ParseStatus::need_more) break;
  }
  if (status == ParseStatus::need_more) status = parser.end_of_input(view);
  if (parser.consumed() > view.size()) fail("response consumed past the input", "");
  if (status == ParseStatus::error) return "error " + parser.error().message();
  return describe_response(parser.response(), view) + " [" + std::to_string(parser.consumed()) +
         "]";
}

void check_same(const std::string& whole, const std::string& other, const char* how) {
  if (whole != other) fail(how, "whole:\n" + whole + "\n--- other:\n" + other);
}

void run(std::string_view data, const Limits& limits, Method method) {
  size_t split =
      data.empty() ? 0 : (size_t(uint8_t(data[0])) * 131 + data.size() * 7) % data.size();
  std::vector<size_t> at_split{split};
  std::vector<size_t> bytewise;
  if (data.size() <= 512) {
    for (size_t i = 1; i < data.size(); ++i) bytewise.push_back(i);
  }
  std::string whole = request_transcript(data, {}, limits);
  check_same(whole, request_transcript(data, at_split, limits), "requests: split differs");
  if (!bytewise.empty()) {
    check_same(whole, request_transcript(data, bytewise, limits), "requests: bytewise differs");
  }
  std::string response = response_transcript(data, {}, limits, method);
  check_same(response, response_transcript(data, at_split, limits, method),
             "response: split differs");
  if (!bytewise.empty()) {
    check_same(response, response_transcript(data, bytewise, limits, method),
               "response: bytewise differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Method method = size == 0 ? Method::get
                  : data[size - 1] % 7 == 0 ? Method::head
                  : data[size - 1] % 7 == 1 ? Method::connect
                                            : Method::get;
  run(input, Limits{}, method);
  Limits small;
  small.max_request_line = 48;
  small.max_header_bytes = 96;
  small.max_headers = 4;
  small.max_body = 24;
  small.max_chunk_line = 16;
  small.max_trailer_bytes = 24;
  run(input, small, method);
  return 0;
}
