// RespParser: one item (a line, or a bulk payload) at a time, resumable between any two bytes.
#include "tern/redis/resp_parser.h"

#include <charconv>
#include <cstring>
#include <utility>

namespace tern::redis {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_aggregate(Type type) noexcept {
  return type == Type::array || type == Type::map || type == Type::set || type == Type::push;
}

bool has_text(Type type) noexcept {
  switch (type) {
    case Type::simple_string: case Type::error: case Type::bulk_string: case Type::bulk_error:
    case Type::big_number: case Type::verbatim_string: case Type::double_:
      return true;
    default:
      return false;
  }
}

// A length or count line: digits only (no sign, no spaces). Saturates instead of overflowing,
// so that a huge number reads as "beyond every limit".
bool parse_length(std::string_view line, size_t& length) noexcept {
  if (line.empty()) return false;
  constexpr size_t kSaturated = size_t(1) << 62;
  size_t value = 0;
  for (char c : line) {
    if (!is_digit(c)) return false;
    value = value >= kSaturated ? kSaturated : value * 10 + size_t(c - '0');
  }
  length = value;
  return true;
}

bool parse_integer(std::string_view line, int64_t& value) noexcept {
  if (!line.empty() && line[0] == '+') {
    line.remove_prefix(1);
    if (line.empty() || !is_digit(line[0])) return false;
  }
  if (line.empty() || (line[0] != '-' && !is_digit(line[0]))) return false;
  auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), value);
  return error == std::errc() && end == line.data() + line.size();
}

bool parse_double(std::string_view line, double& value) noexcept {
  if (!line.empty() && line[0] == '+') {
    line.remove_prefix(1);
    if (line.empty() || line[0] == '-' || line[0] == '+') return false;
  }
  if (line.empty()) return false;
  auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), value);
  // Out of range ("1e999") is still a double: +-inf as strtod gives it.
  if (error == std::errc::result_out_of_range && end == line.data() + line.size()) return true;
  return error == std::errc() && end == line.data() + line.size();
}

bool is_big_number(std::string_view line) noexcept {
  if (!line.empty() && (line[0] == '-' || line[0] == '+')) line.remove_prefix(1);
  if (line.empty()) return false;
  for (char c : line) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool is_type_byte(char c) noexcept {
  return std::strchr("+-:$*_,#(!=%~>|", c) != nullptr && c != '\0';
}

}  // namespace

RespParser::RespParser(RespLimits limits) : limits_(limits) {}

void RespParser::reset() noexcept {
  pos_ = 0;
  scanned_ = 0;
  in_payload_ = false;
  done_ = false;
  error_ = {};
  root_ = {};
  frames_.clear();
  pending_.clear();
  if (nodes_.capacity() > kKeptNodes) {
    std::vector<Node>().swap(nodes_);
    std::vector<Value>().swap(values_);
    std::vector<Node>().swap(pending_);
  } else {
    nodes_.clear();
    values_.clear();
  }
  steps_ = 0;
}

Decoded<Value> RespParser::parse(std::string_view input) {
  if (done_) reset();
  if (error_) return Decoded<Value>::invalid(error_);
  ++steps_;
  for (;;) {
    Step step = in_payload_ ? read_payload(input) : read_item(input);
    switch (step) {
      case Step::next: continue;
      case Step::more: return Decoded<Value>::more();
      case Step::failed: return Decoded<Value>::invalid(error_);
      case Step::done: return finish(input);
    }
  }
}

// A line: the type byte at pos_, its content, CR LF. Only the bytes after scanned_ are looked
// at, and never more than max_line of content: whether a line is too long, or ends badly, is
// decided by the same bytes however the input is cut.
RespParser::Step RespParser::read_line(std::string_view input, std::string_view& line) {
  size_t content = pos_ + 1;
  size_t window_end = content + limits_.max_line + 1;  // the CR may follow max_line bytes
  size_t end = std::min(input.size(), window_end);
  if (scanned_ < content) scanned_ = content;
  for (; scanned_ < end; ++scanned_) {
    ++steps_;
    char c = input[scanned_];
    if (c == '\n') return fail(resp_errc::bad_line_end);
    if (c == '\r') break;
  }
  if (scanned_ == end) {
    return end == window_end ? fail(resp_errc::line_too_long) : Step::more;
  }
  if (scanned_ + 1 >= input.size()) return Step::more;  // the CR is there, the LF not yet
  if (input[scanned_ + 1] != '\n') return fail(resp_errc::bad_line_end);
  line = input.substr(content, scanned_ - content);
  return Step::next;
}

RespParser::Step RespParser::read_item(std::string_view input) {
  if (pos_ >= input.size()) return Step::more;
  char type = input[pos_];
  if (!is_type_byte(type)) return fail(resp_errc::bad_type);
  std::string_view line;
  Step step = read_line(input, line);
  if (step != Step::next) return step;
  size_t line_at = pos_ + 1;
  pos_ = scanned_ + 2;  // past CR LF
  scanned_ = pos_;
  ++steps_;
  switch (type) {
    case '$': case '!': case '=':
      return open_bulk(type, line);
    case '*': case '%': case '~': case '>': case '|':
      return open_aggregate(type, line);
    default:
      return read_scalar(type, line, line_at);
  }
}

RespParser::Step RespParser::read_scalar(char type, std::string_view line, size_t line_at) {
  Node node;
  node.at = line_at;
  node.size = line.size();
  switch (type) {
    case '+': node.type = Type::simple_string; break;
    case '-': node.type = Type::error; break;
    case ':':
      node.type = Type::integer;
      if (!parse_integer(line, node.integer)) return fail(resp_errc::bad_number);
      break;
    case ',':
      node.type = Type::double_;
      if (!parse_double(line, node.number)) return fail(resp_errc::bad_number);
      break;
    case '(':
      node.type = Type::big_number;
      if (!is_big_number(line)) return fail(resp_errc::bad_number);
      break;
    case '#':
      node.type = Type::boolean;
      if (line != "t" && line != "f") return fail(resp_errc::bad_number);
      node.integer = line == "t" ? 1 : 0;
      break;
    case '_':
      if (!line.empty()) return fail(resp_errc::bad_line_end);  // "_" is followed by CR LF
      node = Node{};
      break;
    default:
      return fail(resp_errc::bad_type);
  }
  return complete(node);
}

RespParser::Step RespParser::open_bulk(char type, std::string_view line) {
  if (type == '$' && line == "-1") return complete(Node{});  // RESP2's null bulk string
  size_t size = 0;
  if (!parse_length(line, size)) return fail(resp_errc::bad_length);
  if (size > limits_.max_bulk) return fail(resp_errc::too_large);
  payload_type_ = type == '$' ? Type::bulk_string
                : type == '!' ? Type::bulk_error
                              : Type::verbatim_string;
  if (payload_type_ == Type::verbatim_string && size < 4) return fail(resp_errc::bad_length);
  payload_size_ = size;
  in_payload_ = true;
  return Step::next;
}

// The payload and its CR LF are waited for whole: nothing in them is scanned.
RespParser::Step RespParser::read_payload(std::string_view input) {
  size_t available = input.size() - pos_;
  if (available < payload_size_ + 2) return Step::more;
  if (input[pos_ + payload_size_] != '\r' || input[pos_ + payload_size_ + 1] != '\n') {
    return fail(resp_errc::bad_line_end);
  }
  Node node;
  node.type = payload_type_;
  node.at = pos_;
  node.size = payload_size_;
  if (payload_type_ == Type::verbatim_string) {
    if (input[pos_ + 3] != ':') return fail(resp_errc::bad_length);  // "txt:" or "mkd:"
    node.at += 4;
    node.size -= 4;
  }
  pos_ += payload_size_ + 2;
  scanned_ = pos_;
  in_payload_ = false;
  ++steps_;
  return complete(node);
}

RespParser::Step RespParser::open_aggregate(char type, std::string_view line) {
  if (type == '*' && line == "-1") return complete(Node{});  // RESP2's null array
  size_t count = 0;
  if (!parse_length(line, count)) return fail(resp_errc::bad_length);
  bool pairs = type == '%' || type == '|';
  if (count > limits_.max_elements || (pairs && count > limits_.max_elements / 2)) {
    return fail(resp_errc::too_many_elements);
  }
  if (pairs) count *= 2;
  Frame frame;
  frame.node.type = type == '*' ? Type::array
                  : type == '%' ? Type::map
                  : type == '~' ? Type::set
                  : type == '>' ? Type::push
                                : Type::null;  // '|': an attribute, dropped
  if (count == 0) {
    if (type == '|') return Step::next;
    return complete(frame.node);
  }
  if (frames_.size() >= limits_.max_depth) return fail(resp_errc::too_deep);
  frame.remaining = count;
  frame.first_pending = pending_.size();
  frame.nodes_mark = nodes_.size();
  frames_.push_back(frame);
  return Step::next;
}

// A value is whole: it becomes the root, or an element of the innermost open aggregate, which
// may complete in turn (and its parent, ...).
RespParser::Step RespParser::complete(Node node) {
  for (;;) {
    if (frames_.empty()) {
      root_ = node;
      return Step::done;
    }
    Frame& frame = frames_.back();
    pending_.push_back(node);
    if (--frame.remaining > 0) return Step::next;
    size_t first = frame.first_pending;
    if (frame.node.type == Type::null) {  // an attribute: parsed, then forgotten
      nodes_.resize(frame.nodes_mark);
      pending_.resize(first);
      frames_.pop_back();
      return Step::next;
    }
    node = frame.node;
    node.first = nodes_.size();
    node.size = pending_.size() - first;
    nodes_.insert(nodes_.end(), pending_.begin() + std::ptrdiff_t(first), pending_.end());
    steps_ += node.size;
    pending_.resize(first);
    frames_.pop_back();
  }
}

RespParser::Step RespParser::fail(resp_errc error) {
  error_ = make_error_code(error);
  return Step::failed;
}

Value RespParser::to_value(const Node& node, std::string_view input) const {
  Value value;
  value.type = node.type;
  value.integer = node.integer;
  value.number = node.number;
  if (has_text(node.type)) value.text = input.substr(node.at, node.size);
  if (is_aggregate(node.type) && node.size > 0) {
    value.elements = std::span<const Value>(values_.data() + node.first, node.size);
  }
  return value;
}

// The views are made now, from this call's input: earlier calls' buffers may be gone.
Decoded<Value> RespParser::finish(std::string_view input) {
  done_ = true;
  values_.resize(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) values_[i] = to_value(nodes_[i], input);
  steps_ += nodes_.size();
  return Decoded<Value>::message(to_value(root_, input), pos_);
}

}  // namespace tern::redis
