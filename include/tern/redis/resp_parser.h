// RespParser: RESP2 and RESP3 replies, incrementally, without copying.
//
// Incremental: parse() is called with the unconsumed input starting at the value's first byte,
// again with the same bytes plus more after need_more; it resumes where it stopped (a reply
// arriving one byte at a time costs linear time; an aggregate of N elements is not re-parsed
// from its start). Zero-copy: views into `input`. Node storage keeps its capacity: no
// allocation per reply in steady state. Thread rule: one per connection.
//
// How it resumes: the parser remembers offsets, never pointers, because the caller's buffer
// may move between calls (a std::string that grows). It keeps the offset of the next item,
// how far the current line was already scanned for its CR LF, the bulk payload it waits for,
// and a stack of the aggregates still open with the elements they have so far. Elements of an
// aggregate wait on that stack until the aggregate is complete, then move once, side by side,
// into the node storage: every aggregate's elements are contiguous (one span), and each node is
// moved once. Views are made from the offsets in one pass when the whole value is there.
//
// Streamed RESP3 strings and aggregates ("$?", "*?") are refused (bad_length): redis does not
// send them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/protocol/protocol.h"
#include "tern/redis/resp.h"

namespace tern::redis {

class RespParser {
 public:
  explicit RespParser(RespLimits limits = {});

  // message: the value and the bytes it used (attributes before it included); its views are
  // valid until the next parse() or reset(). need_more: call again with the same bytes and
  // more. invalid: the error (resp_errc); the parser stays failed until reset().
  // A parse() after a message, without reset(), starts a new value.
  Decoded<Value> parse(std::string_view input);
  // Forgets the current value; the next parse() starts a new one. Storage keeps its capacity
  // (up to kKeptNodes nodes, so one huge reply does not pin memory for the connection's life).
  void reset() noexcept;

  // Units of work since reset(): bytes scanned for line ends, items read, nodes built, calls.
  // Linear in the value's size however the bytes arrive (tests and the fuzz target check it).
  uint64_t steps() const noexcept { return steps_; }

  static constexpr size_t kKeptNodes = 4096;

 private:
  // A value while the bytes may still move: text as an offset into the input, elements as an
  // index into nodes_.
  struct Node {
    Type type = Type::null;
    size_t at = 0;      // text: offset in the input
    size_t size = 0;    // text: bytes; aggregate: elements
    size_t first = 0;   // aggregate: index of its first element in nodes_
    int64_t integer = 0;
    double number = 0;
  };
  // An aggregate still open.
  struct Frame {
    Node node;              // its type (Type::null marks an attribute, dropped when complete)
    size_t remaining = 0;   // elements still to come
    size_t first_pending = 0;  // where its elements start in pending_
    size_t nodes_mark = 0;     // nodes_.size() when it began (an attribute's nodes are dropped)
  };
  enum class Step : uint8_t { next, more, done, failed };

  Step read_item(std::string_view input);
  Step read_payload(std::string_view input);
  Step read_line(std::string_view input, std::string_view& line);
  Step read_scalar(char type, std::string_view line, size_t line_at);
  Step open_bulk(char type, std::string_view line);
  Step open_aggregate(char type, std::string_view line);
  Step complete(Node node);
  Step fail(resp_errc error);
  Decoded<Value> finish(std::string_view input);
  Value to_value(const Node& node, std::string_view input) const;

  RespLimits limits_;
  size_t pos_ = 0;         // offset of the next item's first byte
  size_t scanned_ = 0;     // the current line is scanned up to here (no CR or LF before it)
  bool in_payload_ = false;  // a bulk header is read: its payload and CR LF are awaited at pos_
  Type payload_type_ = Type::bulk_string;
  size_t payload_size_ = 0;
  bool done_ = false;
  std::error_code error_;
  Node root_;
  std::vector<Frame> frames_;   // aggregates open, outermost first
  std::vector<Node> pending_;   // complete elements of the open aggregates
  std::vector<Node> nodes_;     // elements of complete aggregates, each aggregate's contiguous
  std::vector<Value> values_;   // nodes_ as views, made at the end
  uint64_t steps_ = 0;
};

}  // namespace tern::redis
