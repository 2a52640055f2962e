// libFuzzer target for the RESP parser (tern/redis/resp_parser.h). Each input is parsed as a
// stream of pipelined replies three ways: whole, split at a point derived from the input, and
// (for short inputs) one byte at a time, each call on a fresh heap copy of exactly the bytes
// available (so ASan sees any read past them, and a view kept from an earlier call reads freed
// memory). The invariants: the three ways agree; consumed never exceeds the input; every text
// view lies inside the input; the parser's work stays linear in the input. Runs under two sets
// of limits (the defaults and small ones, so that every limit is reachable by short inputs).
// Then the input, cut into arguments, is encoded as a Command and must parse back to them.
//
//   make fuzz-resp       FUZZ_SECONDS (300) of fuzzing from fuzz/corpus-resp
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
#include "tern/redis/command.h"
#include "tern/redis/resp_parser.h"

namespace {

using tern::fuzz::Exact;
using tern::fuzz::fail;
using tern::fuzz::inside;
using tern::fuzz::kMaxMessages;
using namespace tern::redis;
using tern::Decoded;
using Status = Decoded<Value>::Status;

// The value's rendering, every text view checked to lie inside `input` (to_string reads every
// byte of every view: ASan catches a view into freed memory there too).
void check_views(const Value& value, std::string_view input, size_t depth) {
  if (!inside(value.text, input)) fail("a text view lies outside the input", value.to_string());
  if (depth > 64) fail("deeper than any limit allows", "");
  for (const Value& element : value.elements) check_views(element, input, depth + 1);
}

void check_linear(uint64_t steps, size_t size, size_t calls) {
  if (steps > 4 * uint64_t(size) + 4 * uint64_t(calls) + 16) {
    fail("parser steps not linear", std::to_string(steps) + " steps for " + std::to_string(size) +
                                        " bytes in " + std::to_string(calls) + " calls");
  }
}

// The replies in `data`, delivered up to each of `cuts` and then whole.
std::string transcript(std::string_view data, const std::vector<size_t>& cuts,
                       const RespLimits& limits) {
  RespParser parser(limits);
  Exact buffer;
  std::string out;
  size_t base = 0;
  size_t calls = 0;
  int replies = 0;
  auto deliver = [&](size_t cut) -> bool {  // false: the transcript is final
    while (replies < kMaxMessages) {
      std::string_view view = buffer.hold(data.substr(base, cut - base));
      Decoded<Value> decoded = parser.parse(view);
      ++calls;
      check_linear(parser.steps(), view.size(), calls);
      if (decoded.status == Status::need_more) return true;
      if (decoded.status == Status::invalid) {
        out += "error " + decoded.error.message();
        return false;
      }
      if (decoded.consumed > view.size()) fail("consumed past the input", "");
      if (decoded.consumed == 0) fail("a reply with nothing consumed", "");
      check_views(decoded.request, view, 0);
      out += decoded.request.to_string() + " [" + std::to_string(decoded.consumed) + "]\n";
      ++replies;
      base += decoded.consumed;
      parser.reset();
      calls = 0;
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

void check_same(const std::string& whole, const std::string& other, const char* how) {
  if (whole != other) fail(how, "whole:\n" + whole + "\n--- other:\n" + other);
}

void run(std::string_view data, const RespLimits& limits) {
  size_t split =
      data.empty() ? 0 : (size_t(uint8_t(data[0])) * 131 + data.size() * 7) % data.size();
  std::string whole = transcript(data, {}, limits);
  check_same(whole, transcript(data, {split}, limits), "split differs");
  if (data.size() <= 512) {
    std::vector<size_t> bytewise;
    for (size_t i = 1; i < data.size(); ++i) bytewise.push_back(i);
    check_same(whole, transcript(data, bytewise, limits), "bytewise differs");
  }
}

// The input cut at each 0xff byte into arguments: the encoded command parses back to them.
void check_command(std::string_view data) {
  Command command;
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || uint8_t(data[i]) == 0xff) {
      command.arg(data.substr(start, i - start));
      start = i + 1;
    }
  }
  std::string bytes = command.encoded();
  RespParser parser;
  Decoded<Value> decoded = parser.parse(bytes);
  if (decoded.status != Status::message || decoded.consumed != bytes.size()) {
    fail("an encoded command does not parse back", bytes);
  }
  if (decoded.request.elements.size() != command.size()) fail("argument count differs", bytes);
  for (size_t i = 0; i < command.size(); ++i) {
    if (decoded.request.elements[i].text != command[i]) fail("argument differs", bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  run(input, RespLimits{});
  RespLimits small;
  small.max_bulk = 16;
  small.max_elements = 6;
  small.max_depth = 4;
  small.max_line = 24;
  run(input, small);
  if (size <= 4096) check_command(input);
  return 0;
}
